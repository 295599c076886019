#!/usr/bin/env bash
# Experiment 5's native-vs-converted rows (paper 001: FID 27.04 native vs 25.61 converted): one DDPM-eps expert
# (cosine, K=8 cluster 2 = digit 3, experiment=mnist_k8, 800 steps) sampled by its native DDIM and, converted to
# velocity, by the shared Euler ODE (paper and snr_matched conversion); the FM expert of the same cluster alone
# for scale. Same 50 steps, CFG 3, noise, prompt and metrics for every row.
# Usage: bash experiments/conversion/native_ddim.sh   (N=100 by default; outputs under $OUT)
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline
PY=${PY:-.venv/bin/python}; N=${N:-100}; OUT=${OUT:-experiments/conversion/native_ddim}
OMP_NUM_THREADS=1 $PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 cluster=2 objective=fm,ddpm
FM=runs/experts/fm_kmeans8_c2_tiny_s0/expert; DDPM=runs/experts/ddpm_kmeans8_c2_tiny_s0/expert
common=(ensemble=mnist_k8 ensemble.router=null "prompts=[a handwritten digit three]" "metrics=[domain_fid,clip,diversity]"
        n=$N steps=50 cfg_scale=3 metrics.domain_fid.reference_max_items=2000 metrics.diversity.prompts=5
        metrics.diversity.images_per_prompt=10 trainer.enable_progress_bar=false)
$PY -m hddm.evaluate "${common[@]}" "ensemble.experts=[$DDPM]" solver=ddim routing=top1 hydra.run.dir=$OUT/ddpm_native_ddim
$PY -m hddm.evaluate "${common[@]}" "ensemble.experts=[$FM,$DDPM]" routing=threshold routing.tau=1.0 hydra.run.dir=$OUT/ddpm_converted_paper
$PY -m hddm.evaluate "${common[@]}" "ensemble.experts=[$FM,$DDPM]" routing=threshold routing.tau=1.0 conversion=snr_matched hydra.run.dir=$OUT/ddpm_converted_snr_matched
$PY -m hddm.evaluate "${common[@]}" "ensemble.experts=[$FM,$DDPM]" routing=threshold routing.tau=0.0 hydra.run.dir=$OUT/fm_alone
for run in ddpm_native_ddim ddpm_converted_paper ddpm_converted_snr_matched fm_alone; do tail -1 $OUT/$run/results.md; done
