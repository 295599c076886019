#!/usr/bin/env bash
# Table 3's quality column: domain FID (mnist-cnn features; not Inception FID) and prompt adherence of Top-1,
# Top-2 and the full ensemble of mnist_k8, same noise, prompts and sampler for all three. Trains the ensemble
# first when its bundles are missing (8 FM experts two at a time on one core each, then the router).
# Usage: bash experiments/alignment/table3_fid.sh   (N=300 samples per strategy by default)
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline
PY=${PY:-.venv/bin/python}; N=${N:-300}; OUT=${OUT:-experiments/alignment/runs}
CACHE=${HDDM_CACHE:-$HOME/.cache/hddm}
test -f "$CACHE/partitions/mnist_kmeans8.safetensors" || $PY -m hddm.prepare data=mnist cluster.k=8 hydra.run.dir=$OUT/clusters_k8
OMP_NUM_THREADS=1 $PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 objective=fm cluster=0,1,2,3,4,5,6,7
test -f runs/routers/router_mnist_kmeans8_tiny_text-False_s0/router/manifest.json || \
  $PY -m hddm.train_router partition=file partition.num_clusters=8 trainer.max_steps=1000 optim.lr=1e-3 optim.lr_min=1e-5 \
      trainer.enable_progress_bar=false
for routing in top1 top2 full; do
  $PY -m hddm.evaluate ensemble=mnist_k8 routing=$routing 'metrics=[domain_fid,clip]' n=$N steps=50 cfg_scale=6 \
      trainer.enable_progress_bar=false hydra.run.dir=$OUT/table3_$routing
done
