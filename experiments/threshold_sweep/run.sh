#!/usr/bin/env bash
# Experiments 3, 4 and 5 (one cluster: tau sweep, ordering, conversion) for one training SEED:
# its jobs of experiments/mnist_experiments.py (the experts they need, then the evaluations, two at a time, then the
# tables). Re-running skips what is done. N=..., NFULL=..., NTHRESHOLD=... change the sample counts.
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/threshold_sweep/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ${PY:-.venv/bin/python} experiments/mnist_experiments.py --only exp35 --seeds "${SEED:-0}" "$@"
