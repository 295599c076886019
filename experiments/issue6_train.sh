#!/usr/bin/env bash
# Experts shared by the issue-6 experiments (1, 2, 6), for one training SEED. Resumes / skips when re-run.
#   8 FM experts on the K=8 clusters (conf/ensemble/mnist_k8.yaml), DDPM-eps experts on clusters 2, 6, 4, 5
#   (nested DDPM sets {2} c {2,6} c {2,6,4,5}: single-digit clusters, see experiments/ddpm_fm_ratio/README.md),
#   the kmeans8 router (seed 0 only), and the monolithic FM model on all of MNIST with 8 x 800 = 6400 steps
#   (the K experts' total step budget).
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/issue6_train.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}
test -f "$HDDM_CACHE/partitions/mnist_kmeans8.safetensors" || $PY -m hddm.prepare data=mnist cluster.k=8 hydra.run.dir=runs/issue6/clusters_k8
$PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 objective=fm cluster=0,1,2,3,4,5,6,7 seed=$SEED
$PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 objective=ddpm cluster=2,6,4,5 seed=$SEED
test -f runs/routers/router_kmeans8_tiny_text-False_s0/router/manifest.json || \
  $PY -m hddm.train_router partition=file partition.num_clusters=8 trainer.max_steps=1000 optim.lr=1e-3 optim.lr_min=1e-5 \
      trainer.enable_progress_bar=false
$PY -m hddm.train experiment=mnist_k8 objective=fm partition=mnist_digits partition.num_clusters=1 cluster=0 seed=$SEED \
    trainer.max_steps=6400 trainer.val_check_interval=1600 checkpoint.every_n_steps=800 \
    hydra.run.dir=runs/experts/fm_monolithic_tiny_6400_s$SEED
