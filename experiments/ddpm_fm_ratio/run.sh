#!/usr/bin/env bash
# Experiments 2 and 6 (issue 6) for one training SEED: the 8 FM experts (homogeneous; the same run as experiment 1's
# Top-2 row, skipped when done) against the same ensemble with DDPM-eps experts on the nested cluster sets {2},
# {2,6} (= experiment 2's heterogeneous ensemble), {2,6,4,5}; same router, Top-2, Euler 50, CFG 3, n=N, diversity
# 20 prompts x 10, sampling seed 0; two evaluations at a time. Trains nothing: run experiments/issue6_train.sh first.
# Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/ddpm_fm_ratio/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}; N=${N:-500}; OUT=${OUT:-runs/issue6/k8_s$SEED}
E=runs/experts; R=runs/routers/router_kmeans8_tiny_text-False_s0/router
experts() {  # the K=8 expert list with DDPM on the clusters given
  local list=""
  for c in 0 1 2 3 4 5 6 7; do
    case " $* " in *" $c "*) list="$list,$E/ddpm_kmeans8_c${c}_tiny_s$SEED/expert";; *) list="$list,$E/fm_kmeans8_c${c}_tiny_s$SEED/expert";; esac
  done
  echo "[${list#,}]"
}
for set in "" "2" "2 6" "2 6 4 5"; do
  name=$(test -z "$set" && echo fm8_top2 || echo "ddpm_${set// /_}")
  echo "$PY -m hddm.evaluate ensemble=mnist_k8 'ensemble.experts=$(experts $set)' ensemble.router=$R routing=top2 n=$N \
'metrics=[domain_fid,clip,diversity]' metrics.domain_fid.reference_max_items=2000 metrics.diversity.prompts=20 \
metrics.diversity.images_per_prompt=10 steps=50 cfg_scale=3 trainer.enable_progress_bar=false hydra.run.dir=$OUT/$name"
done | xargs -P "${JOBS:-2}" -I{} -d '\n' bash experiments/pool_job.sh runs/issue6/logs {}
$PY experiments/k8_tables.py ddpm_fm_ratio $SEED
