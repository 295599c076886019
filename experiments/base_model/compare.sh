#!/usr/bin/env bash
# Which base should ship? For each trained base (run.sh with OBJECTIVE= and DOMAIN=; default: the three measured in
# README.md), fine-tune a Flow Matching and a DDPM-epsilon expert of styled-digits cluster 1 (K=4, the demo's partition:
# `make demo` or `hddm.prepare data=styled_digits cluster.k=4 cluster.fine_k=64` first) with the demo's expert recipe
# (300 steps; batch 64 and validation every 150 steps, as when the table was measured: the demo's recipe has since
# moved to batch 32), then score each expert alone: n=200 samples of experiments/styled_demo/prompts.txt, Euler 25
# steps, CFG 3. Two jobs at a time, one core each (~4 min per base).
#   bash experiments/base_model/compare.sh [fm_plain ddpm_plain fm_random_colours]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
BASES=("${@:-fm_plain ddpm_plain fm_random_colours}")
read -r -a BASES <<< "${BASES[*]}"
expert() {
  local base=$1 objective=$2 run=runs/base_compare/$2_from_$1
  $PY -m hddm.train experiment=styled_demo_expert objective=$objective cluster=1 init=runs/base/${base}_init \
      trainer.max_steps=300 data.batch_size=64 trainer.val_check_interval=150 checkpoint.every_n_steps=150 \
      hydra.run.dir=$run
  $PY -m hddm.evaluate "ensemble.experts=[$run/expert]" ensemble.router=null routing=top1 n=200 steps=25 cfg_scale=3 \
      'metrics=[domain_fid,clip,precision_recall]' prompts_file=experiments/styled_demo/prompts.txt \
      trainer.enable_progress_bar=false hydra.run.dir=$run/eval
}
for base in "${BASES[@]}"; do
  $PY -m hddm.inits export runs/base/${base}_digits_tiny_s0/expert runs/base/${base}_init --trained-on "$base digits"
  expert $base fm > runs/base_compare_${base}_fm.log 2>&1 & first=$!
  expert $base ddpm > runs/base_compare_${base}_ddpm.log 2>&1 & second=$!
  wait $first && wait $second
done
$PY - "${BASES[@]}" <<'PY'
import json, sys
from pathlib import Path
names = ("digit_adherence_styled_cnn", "domain_adherence_styled_cnn", "domain_fid_styled_cnn", "precision", "recall")
print("| expert | base | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
for base in sys.argv[1:]:
    for objective in ("fm", "ddpm"):
        metrics = json.loads(Path(f"runs/base_compare/{objective}_from_{base}/eval/results.json").read_text())["metrics"]
        print(f"| {objective} | {base} | " + " | ".join(f"{metrics[n]:.3f}" for n in names) + " |")
PY
