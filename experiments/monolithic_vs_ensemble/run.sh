#!/usr/bin/env bash
# Experiment 1 (monolithic vs decentralized) for one training SEED:
# its jobs of experiments/mnist_experiments.py (the experts they need, then the evaluations, two at a time, then the
# tables). Re-running skips what is done. N=..., NFULL=..., NTHRESHOLD=... change the sample counts.
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/monolithic_vs_ensemble/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ${PY:-.venv/bin/python} experiments/mnist_experiments.py --only exp1 --seeds "${SEED:-0}" "$@"
