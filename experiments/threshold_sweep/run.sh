#!/usr/bin/env bash
# Experiments 3, 4 and the single-cluster part of 5 (issue 6): one FM + one DDPM-eps expert on K=8 cluster 2
# (digit 3), threshold routing (no router). Re-running skips finished jobs (hddm.jobs status files).
# Usage: HDDM_CACHE=/work/cache_demo [SEED=0] [N=100] bash experiments/threshold_sweep/run.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}; N=${N:-100}; OUT=${OUT:-runs/issue6/threshold_s$SEED}
bash experiments/threshold_sweep/train_cluster2.sh
FM=runs/experts/fm_kmeans8_c2_tiny_s$SEED/expert; DDPM=runs/experts/ddpm_kmeans8_c2_tiny_s$SEED/expert
common=(ensemble=mnist_k8 "ensemble.experts=[$FM,$DDPM]" ensemble.router=null routing=threshold
        "prompts=[a handwritten digit three]" "metrics=[domain_fid,clip,diversity]" n=$N steps=50 cfg_scale=3
        metrics.domain_fid.reference_max_items=2000 metrics.diversity.prompts=${DIVP:-5} metrics.diversity.images_per_prompt=${DIVM:-10}
        hydra/launcher=local 'hydra.sweep.subdir=${routing.order}_tau${routing.tau}_${conversion.mode}')
# exp 3 (+ exp 5 endpoints: tau=0 is FM alone, tau=1 is the converted DDPM expert alone)
$PY -m hddm.evaluate -m "${common[@]}" routing.order=fm_first routing.tau=0.0,0.2,0.3,0.4,0.5,0.6,0.7,1.0 hydra.sweep.dir=$OUT/fm_first
# exp 4: DDPM-first at the same taus (FM-first rows come from the sweep above)
$PY -m hddm.evaluate -m "${common[@]}" routing.order=ddpm_first routing.tau=0.3,0.5,0.7 hydra.sweep.dir=$OUT/ddpm_first
# exp 5: snr_matched conversion for the DDPM expert alone (tau=1) and combined (tau=0.5)
$PY -m hddm.evaluate -m "${common[@]}" routing.order=fm_first routing.tau=${SNR_TAUS:-0.5,1.0} conversion=snr_matched hydra.sweep.dir=$OUT/snr_matched
for d in fm_first ddpm_first snr_matched; do $PY -m hddm.report $OUT/$d; done
