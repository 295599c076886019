#!/usr/bin/env bash
# Experiment 1 (issue 6) for one training SEED: the monolithic FM model (all of MNIST, 6400 steps) against the 8 FM
# experts (800 steps each, the same total) with Top-1 / Top-2 (n=N) and the full ensemble (n=NFULL, 8 experts every
# step), all through the paper's text-free router, plus Top-2 through a text-aware router; Euler 50, CFG 3, sampling
# seed 0, ten digit prompts cycled. Five evaluations, two at a time, the longest (full) first. Trains nothing: run
# experiments/issue6_train.sh first.
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/monolithic_vs_ensemble/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}; N=${N:-500}; NFULL=${NFULL:-300}; OUT=${OUT:-runs/issue6/k8_s$SEED}
E=runs/experts; R=runs/routers/router_kmeans8_tiny_text-False_s0/router
RT=runs/routers/router_kmeans8_tiny_text-True_s0/router  # not the paper's: a router that also reads the prompt
fm8=$(printf "$E/fm_kmeans8_c%s_tiny_s$SEED/expert," 0 1 2 3 4 5 6 7)
evaluate="$PY -m hddm.evaluate ensemble=mnist_k8 ensemble.router=$R 'metrics=[domain_fid,clip,diversity]' \
metrics.domain_fid.reference_max_items=2000 metrics.diversity.prompts=20 metrics.diversity.images_per_prompt=10 \
steps=50 cfg_scale=3 trainer.enable_progress_bar=false"
printf '%s\n' "$evaluate 'ensemble.experts=[${fm8%,}]' routing=full n=$NFULL hydra.run.dir=$OUT/fm8_full" \
              "$evaluate 'ensemble.experts=[${fm8%,}]' routing=top2 n=$N hydra.run.dir=$OUT/fm8_top2" \
              "$evaluate 'ensemble.experts=[${fm8%,}]' routing=top1 n=$N hydra.run.dir=$OUT/fm8_top1" \
              "$evaluate 'ensemble.experts=[$E/fm_monolithic_tiny_6400_s$SEED/expert]' routing=top1 n=$N hydra.run.dir=$OUT/monolithic" \
              "$evaluate 'ensemble.experts=[${fm8%,}]' routing=top2 n=${NTEXT:-$N} ensemble.router=$RT hydra.run.dir=$OUT/fm8_top2_text_router" |
  xargs -P "${JOBS:-2}" -I{} -d '\n' bash experiments/pool_job.sh runs/issue6/logs {}
$PY experiments/k8_tables.py monolithic_vs_ensemble $SEED
