#!/usr/bin/env bash
# The shipped pretrained base (hddm/assets/base_dit/): a tiny DiT trained on every MNIST train+val digit rendered in
# styled digits' `plain` domain (white ink on black, RGB; captions name the digit, half also the domain), the embedded default's
# stand-in for the papers' ImageNet checkpoint: no styled-digits cluster holds its domain. README.md says why this
# objective and domain.
#   bash experiments/base_model/run.sh                 # Flow Matching, 10000 steps, ~95 min on one idle core
#   OBJECTIVE=ddpm OUT=/tmp/ddpm_base bash experiments/base_model/run.sh   # the DDPM-epsilon alternative
#   DOMAIN=random_colours OUT=/tmp/rc_base bash experiments/base_model/run.sh   # each image in its own colours
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-10000}
OBJECTIVE=${OBJECTIVE:-fm}
RUN=runs/base/${OBJECTIVE}_${DOMAIN:-plain}_digits_tiny_s0
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $PY -m hddm.train objective=$OBJECTIVE model=tiny data=styled_digits "data.domains=[${DOMAIN:-plain}]" partition=mnist_digits \
    partition.num_clusters=1 "partition.path=\${data.cache_dir}/partitions/styled_digits_${DOMAIN:-plain}_label_mod_1.safetensors" cluster=0 seed=0 trainer.max_steps=$STEPS optim.lr=1e-3 optim.warmup_steps=200 \
    ema.decay=0.999 trainer.val_check_interval=500 checkpoint.every_n_steps=500 trainer.enable_progress_bar=false \
    'sample.prompts=["a handwritten digit zero","a handwritten digit one","a handwritten digit two","a handwritten digit three","a handwritten digit four","a handwritten digit five","a handwritten digit six","a handwritten digit seven","a handwritten digit eight","a handwritten digit nine"]' \
    sample.n=40 hydra.run.dir=$RUN
$PY -m hddm.inits export $RUN/expert "${OUT:-hddm/assets/base_dit}" \
    --trained-on "MNIST train+val (60k) rendered as styled digits' ${DOMAIN:-plain} domain, captions naming the digit, half of them also the domain"
