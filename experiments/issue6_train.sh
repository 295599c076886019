#!/usr/bin/env bash
# Every expert of the issue-6 experiments for one training SEED, as one pool of single-core jobs (JOBS=2 at once;
# the longest first, then what the single-cluster experiments need). Each job resumes from its last checkpoint or
# is skipped when done (hddm.jobs status files).
#   monolithic FM model on all of MNIST, 8 x 800 = 6400 steps (the K experts' total step budget)   exp 1
#   8 FM experts on the K=8 clusters (conf/experiment/mnist_k8.yaml, 800 steps)                   exp 1, 2, 3-6
#   DDPM-eps (cosine) experts on clusters 2, 6, 4, 5: nested DDPM sets {2} c {2,6} c {2,6,4,5}    exp 2, 3-6
#   a DDPM-eps expert with the linear schedule on cluster 2 (same vs different schedules)          exp 5
#   the kmeans8 router (training seed 0, shared by both seeds) and its text-aware variant          exp 1, 2, 6
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/issue6_train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}
test -f "$HDDM_CACHE/partitions/mnist_kmeans8.safetensors" || $PY -m hddm.prepare data=mnist cluster.k=8 hydra.run.dir=runs/issue6/clusters_k8
train="$PY -m hddm.train experiment=mnist_k8 seed=$SEED"
{
  echo "$train objective=fm partition=mnist_digits partition.num_clusters=1 cluster=0 trainer.max_steps=6400 \
trainer.val_check_interval=1600 checkpoint.every_n_steps=800 hydra.run.dir=runs/experts/fm_monolithic_tiny_6400_s$SEED"
  echo "$train objective=fm cluster=2"                      # cluster 2's experts first: experiments 3-5 need only them
  echo "$train objective=ddpm cluster=2"
  echo "$train objective=ddpm schedule=linear cluster=2 run_name=ddpm_linear_kmeans8_c2_tiny_s$SEED"
  test "$SEED" != 0 || echo "$PY -m hddm.train_router partition=file partition.num_clusters=8 trainer.max_steps=1000 \
optim.lr=1e-3 optim.lr_min=1e-5 trainer.enable_progress_bar=false"
  test "$SEED" != 0 || echo "$PY -m hddm.train_router partition=file partition.num_clusters=8 text_aware=true \
trainer.max_steps=1000 optim.lr=1e-3 optim.lr_min=1e-5 trainer.enable_progress_bar=false"
  for c in 0 1 3 4 5 6 7; do echo "$train objective=fm cluster=$c"; done
  for c in 6 4 5; do echo "$train objective=ddpm cluster=$c"; done
} | xargs -P "${JOBS:-2}" -I{} -d '\n' bash experiments/pool_job.sh runs/issue6/logs {}
