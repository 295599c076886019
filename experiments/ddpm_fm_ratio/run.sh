#!/usr/bin/env bash
# Experiments 2 and 6 (homogeneous vs heterogeneous; 0, 1, 2, 4 DDPM experts) for one training SEED:
# its jobs of experiments/mnist_experiments.py (the experts they need, then the evaluations, two at a time, then the
# tables). Re-running skips what is done. N=..., NFULL=..., NTHRESHOLD=... change the sample counts.
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/ddpm_fm_ratio/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ${PY:-.venv/bin/python} experiments/mnist_experiments.py --only exp26 --seeds "${SEED:-0}" "$@"
