#!/usr/bin/env bash
# All issue-6 experiments, training seeds 0 then 1: train every expert (one pool of single-core jobs), then the
# single-cluster experiments 3-5, experiment 1 and experiments 2 and 6. Every step resumes or skips what is done.
# Usage: HDDM_CACHE=/work/cache_demo bash experiments/run_all_issue6.sh   (SEEDS="0" for one seed)
set -euo pipefail
cd "$(dirname "$0")/.."
for SEED in ${SEEDS:-0 1}; do
  export SEED
  bash experiments/issue6_train.sh              # all experts of this seed (+ the router for seed 0)
  bash experiments/threshold_sweep/run.sh       # exp 3, 4, 5 -> experiments/{threshold_sweep,ordering,conversion}
  bash experiments/monolithic_vs_ensemble/run.sh  # exp 1
  bash experiments/ddpm_fm_ratio/run.sh         # exp 2 and 6 -> experiments/{ddpm_fm_ratio,hetero_vs_homo}
done
