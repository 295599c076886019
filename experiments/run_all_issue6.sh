#!/usr/bin/env bash
# All issue-6 experiments in order, for training seeds 0 then 1; every step resumes or skips what is done.
# Usage: HDDM_CACHE=/work/cache_demo bash experiments/run_all_issue6.sh   (SEEDS="0" for one seed)
# Status on 2026-12-02: only the single-cluster part (experiments 3, 4, 5; native DDIM by conversion/native_ddim.sh) was run,
# seed 0; see each experiment's README.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
for SEED in ${SEEDS:-0 1}; do
  SEED=$SEED bash experiments/threshold_sweep/run.sh           # exp 3, 4, 5 (one cluster, cheap) first
done
for SEED in ${SEEDS:-0 1}; do
  SEED=$SEED bash experiments/issue6_train.sh                  # experts of exp 1, 2, 6
  SEED=$SEED bash experiments/issue6_eval_k8.sh                # exp 1, 2, 6 evaluations
done
