#!/usr/bin/env bash
# Dense vs TC vs EC vs DiffMoE at equal activated parameters and equal steps, all of MNIST (one cluster),
# Flow Matching, tiny width (128/4; MoE in blocks 2 and 4 with 16 full-size experts), one run at a time.
# Run folders go to $OUT (default /tmp/diffmoe_runs); curves, samples and scores are copied here.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1 HDDM_CACHE=${HDDM_CACHE:-/tmp/moe_cache}
OUT=${OUT:-/tmp/diffmoe_runs}
STEPS=${STEPS:-300}
for model in tiny tc_tiny_e16 ec_tiny_e16 diffmoe_tiny_e16; do
  /usr/bin/time -f "$model train %e s" .venv/bin/python -m hddm.train experiment=embedded_quick objective=fm \
    partition.num_clusters=1 cluster=0 model=$model trainer.max_steps=$STEPS trainer.val_check_interval=$((STEPS / 2)) \
    trainer.log_every_n_steps=10 checkpoint.every_n_steps=$STEPS sample.n=16 sample.steps=20 \
    trainer.enable_progress_bar=false "hydra.run.dir=$OUT/$model"
done
