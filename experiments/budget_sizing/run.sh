#!/usr/bin/env bash
# How the MNIST experiments' experts and evaluations were sized for the 2-hour budget (2026-12-04): FM and DDPM experts on
# K=8 cluster 2 (digit 3) at batch 64 vs 32, and evaluations at Euler 50 vs 25 steps, each scored like experiment 3
# (domain FID against the MNIST-test threes, n=100). Two jobs at a time, one core each; then make_table.py.
# Usage: HDDM_CACHE=<cache with the kmeans8 partition> bash experiments/budget_sizing/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}
train() { $PY -m hddm.train experiment=mnist_k8 cluster=2 objective=$1 data.batch_size=$2 run_name=$3 > /dev/null; }
evaluate() {  # run, folder, extra overrides
  $PY -m hddm.evaluate ensemble=mnist_k8 ensemble.router=null "prompts=[a handwritten digit three]" n=100 cfg_scale=3 \
    'metrics=[domain_fid,clip,diversity]' 'metrics.domain_fid.reference_labels=[3]' metrics.diversity.prompts=5 \
    metrics.diversity.images_per_prompt=10 trainer.enable_progress_bar=false routing=top1 \
    "ensemble.experts=[runs/experts/$1/expert]" hydra.run.dir=runs/var_eval/$2 "${@:3}" > /dev/null
}
train fm 64 base_fm_c2 & train fm 32 var_b32 & wait
train ddpm 64 var_ddpm_b64 & train ddpm 32 var_ddpm_b32 & wait
evaluate base_fm_c2 base_fm_c2 steps=50 & evaluate base_fm_c2 base_s1 steps=50 seed=1 & wait
evaluate var_b32 var_b32_st50 steps=50 & evaluate var_b32 var_b32_s1 steps=50 seed=1 & wait
evaluate var_b32 var_b32_st25 steps=25 & evaluate var_ddpm_b32 var_ddpm_b32_st50 steps=50 & wait
evaluate var_ddpm_b32 var_ddpm_b32_st25 steps=25 & evaluate var_ddpm_b32 ddpm32_s1 steps=25 seed=1 & wait
evaluate var_ddpm_b64 ddpm64_s0 steps=25 & evaluate var_ddpm_b64 ddpm64_s1 steps=25 seed=1 & wait
evaluate var_ddpm_b32 var_ddpm_b32_ddim25 steps=25 solver=ddim & evaluate var_ddpm_b32 var_ddpm_b32_ddim50 steps=50 solver=ddim & wait
$PY experiments/budget_sizing/make_table.py
