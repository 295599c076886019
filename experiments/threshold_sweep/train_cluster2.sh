#!/usr/bin/env bash
# The experts of experiments 3-5 on K=8 cluster 2 (digit 3, purity 97.5 %): FM (linear path), DDPM-eps (cosine) and
# DDPM-eps on the linear schedule (exp 5's same-schedule row); tiny DiT, experiment=mnist_k8 (800 steps, lr 1e-3,
# EMA 0.999; LINEAR=0 skips the third). The same jobs as in experiments/issue6_train.sh: whichever runs first trains, the other skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}
test -f "$HDDM_CACHE/partitions/mnist_kmeans8.safetensors" || $PY -m hddm.prepare data=mnist cluster.k=8 hydra.run.dir=runs/issue6/clusters_k8
train="$PY -m hddm.train experiment=mnist_k8 seed=$SEED cluster=2"
{ printf '%s\n' "$train objective=fm" "$train objective=ddpm"
  test "${LINEAR:-1}" = 0 || echo "$train objective=ddpm schedule=linear run_name=ddpm_linear_kmeans8_c2_tiny_s$SEED"; } |
  xargs -P "${JOBS:-2}" -I{} -d '\n' bash experiments/pool_job.sh runs/issue6/logs {}
