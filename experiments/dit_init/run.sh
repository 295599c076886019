#!/usr/bin/env bash
# End-to-end reproduction of the dit_init experiment: pretrain a tiny reference DiT on all MNIST digits,
# convert it with hddm.convert_dit, train two experts per objective on cluster 3 (converted init vs scratch, same
# seed and settings), evaluate the step-0 point, plot. CPU, one thread per process, one process at a time.
#
#   bash experiments/dit_init/run.sh                  # from the repo root (or anywhere: it cd's there)
#   STEPS=1200 PRETRAIN_STEPS=800 OBJECTIVES="ddpm fm" ABLATION=1 bash experiments/dit_init/run.sh   # the defaults
#
# ABLATION=1 also pretrains a second DiT without any image of the expert's digit, converts it and trains a third
# expert per objective from it (runs/<objective>_init_nodigit). Needs the default 10-cluster partition, where
# cluster c is digit c. ~1 h in all on one busy core (two pretrains ~6 min each, six 1200-step experts ~8 min each).
#
# Everything heavy goes to experiments/dit_init/work/ (git-ignored). Re-running skips the pretrain if its .pt exists
# and hddm.train resumes (or immediately finishes) a run folder that already holds last.ckpt; FRESH=1 starts over.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/../.."
PY="${PY:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
STEPS="${STEPS:-1200}"
PRETRAIN_STEPS="${PRETRAIN_STEPS:-800}"
OBJECTIVES="${OBJECTIVES:-ddpm fm}"
CLUSTER="${CLUSTER:-3}"
SEED="${SEED:-0}"
ABLATION="${ABLATION:-1}"
WORK=experiments/dit_init/work
SOURCE="$WORK/dit_tiny_mnist.pt"
INIT="$WORK/init"
SOURCE_NODIGIT="$WORK/dit_tiny_mnist_no_digit$CLUSTER.pt"
INIT_NODIGIT="$WORK/init_nodigit"
[ "${FRESH:-0}" = 1 ] && rm -rf "$WORK"
mkdir -p "$WORK"

# Settings shared by every expert run: only objective= and init= differ within a pair.
# data.val_fraction=0.1 -> the 512-image cap of held-out cluster images (8 batches of 64), all evaluated.
COMMON=(cluster="$CLUSTER" seed="$SEED" experiment=embedded_quick trainer.max_steps="$STEPS"
        trainer.val_check_interval=50 trainer.limit_val_batches=8 data.val_fraction=0.1
        checkpoint.every_n_steps="$STEPS" trainer.enable_progress_bar=false)

echo "== 1. pretrain the reference DiT ($PRETRAIN_STEPS steps) -> $SOURCE"
if [ ! -f "$SOURCE" ]; then
  /usr/bin/time -f "pretrain wall %e s" "$PY" experiments/dit_init/pretrain_reference_dit.py \
    --steps "$PRETRAIN_STEPS" --seed "$SEED" --holdout-cluster "$CLUSTER" --expert-seed "$SEED" --val-fraction 0.1 \
    --out "$SOURCE" 2>&1 | tee "$WORK/pretrain.log"
else
  echo "   exists, skipped"
fi
cp "${SOURCE%.pt}.json" experiments/dit_init/pretrain_log.json

if [ "$ABLATION" = 1 ]; then
  echo "== 1b. ablation: pretrain the reference DiT without digit $CLUSTER -> $SOURCE_NODIGIT"
  if [ ! -f "$SOURCE_NODIGIT" ]; then
    "$PY" experiments/dit_init/pretrain_reference_dit.py --steps "$PRETRAIN_STEPS" --seed "$SEED" \
      --holdout-cluster "$CLUSTER" --expert-seed "$SEED" --val-fraction 0.1 --exclude-digits "$CLUSTER" \
      --out "$SOURCE_NODIGIT" 2>&1 | tee "$WORK/pretrain_nodigit.log"
  else
    echo "   exists, skipped"
  fi
  cp "${SOURCE_NODIGIT%.pt}.json" experiments/dit_init/pretrain_log_nodigit.json
fi

echo "== 2. convert -> $INIT"
"$PY" -m hddm.convert_dit source="$SOURCE" model=tiny out="$INIT" in_channels=1 image_size=28 text_dim=384 \
  num_classes=10 seed="$SEED" hydra.run.dir="$WORK/convert_run"
if [ "$ABLATION" = 1 ]; then
  "$PY" -m hddm.convert_dit source="$SOURCE_NODIGIT" model=tiny out="$INIT_NODIGIT" in_channels=1 image_size=28 \
    text_dim=384 num_classes=10 seed="$SEED" hydra.run.dir="$WORK/convert_run_nodigit"
fi

for objective in $OBJECTIVES; do
  echo "== 3a. step-0 validation loss, objective=$objective"
  "$PY" experiments/dit_init/step0_val.py --init "$INIT" --source "$SOURCE" --out "$WORK/step0_$objective.json" \
    -- objective="$objective" "${COMMON[@]}" > "$WORK/step0_$objective.log" 2>&1
  arms=(init scratch)
  if [ "$ABLATION" = 1 ]; then
    "$PY" experiments/dit_init/step0_val.py --init "$INIT_NODIGIT" --source "$SOURCE_NODIGIT" \
      --out "$WORK/step0_${objective}_nodigit.json" -- objective="$objective" "${COMMON[@]}" \
      > "$WORK/step0_${objective}_nodigit.log" 2>&1
    arms+=(init_nodigit)
  fi
  for arm in "${arms[@]}"; do
    echo "== 3b. expert objective=$objective arm=$arm ($STEPS steps)"
    extra=()
    [ "$arm" = init ] && extra=(init="$INIT")
    [ "$arm" = init_nodigit ] && extra=(init="$INIT_NODIGIT")
    "$PY" -m hddm.train objective="$objective" "${COMMON[@]}" "${extra[@]}" \
      hydra.run.dir="$WORK/runs/${objective}_${arm}" > "$WORK/${objective}_${arm}.log" 2>&1
    tail -n 5 "$WORK/${objective}_${arm}.log"
  done
done

echo "== 4. plot and table"
"$PY" experiments/dit_init/plot_curves.py --objectives $OBJECTIVES
