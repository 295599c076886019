#!/usr/bin/env bash
# The two experts of experiments 3-5 on K=8 cluster 2 (digit 3, purity 97.4 %): FM (linear) and DDPM-eps (cosine),
# tiny DiT, experiment=mnist_k8 (STEPS, default 800, lr 1e-3, EMA 0.999). Resumes / skips when re-run.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}
test -f "$HDDM_CACHE/partitions/mnist_kmeans8.safetensors" || $PY -m hddm.prepare data=mnist cluster.k=8 hydra.run.dir=runs/issue6/clusters_k8
$PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 cluster=2 objective=fm,ddpm seed=$SEED trainer.max_steps=${STEPS:-800}
