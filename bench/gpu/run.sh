#!/usr/bin/env bash
# The prepared GPU check, for a bare GPU machine whose python3 holds torch, lightning, torchmetrics, timm and
# transformers but not diffusers (the peer) or hddm's install: install the carried wheels into /tmp/site, then run
# bench/gpu/check.py and copy its results to $OUT (when set). Prepare the wheels here once with
# `bash bench/gpu/fetch_wheels.sh` (into .whl/, ignored by git) and carry .whl. About 5 minutes on one H100.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
python3 bench/gpu/check.py "$@"
if [ -n "${OUT:-}" ]; then cp bench/results/gpu_check.* "$OUT"/ 2>/dev/null || true; fi
