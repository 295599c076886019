#!/usr/bin/env bash
# The alignment tables on the K=8 MNIST ensemble (conf/ensemble/mnist_k8.yaml), sized to finish in ~25 min on a
# shared 2-core CPU (the sample counts are in every table; raise n for tighter numbers).
# Usage: HDDM_CACHE=<cache with the kmeans8 partition and the digit CNN> bash experiments/alignment/run.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-experiments/alignment/runs}
PY=${PY:-.venv/bin/python}
run() { local name=$1; shift; $PY -m hddm.analyze analysis=$name ensemble=mnist_k8 "$@" hydra.run.dir=$OUT/$name; }
run cluster_rank n=64
run angular_deviation n=32
run refine n=16 batch_size=16
run sensitivity n=8 batch_size=8 analysis.jacobian_every=10 analysis.power_iterations=4
run disagreement n=32
run switching n=32
run rescue n=8 batch_size=8 analysis.refine_steps=25 analysis.clip_iterations=1 'analysis.temperatures=[0.25,4.0]' 'analysis.top_ps=[0.8]'
