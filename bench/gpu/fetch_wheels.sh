#!/usr/bin/env bash
# Wheels the GPU machine lacks (python 3.12 there): diffusers (the PixArt peer) and importlib_metadata, which it
# imports. Run here once before a GPU loan; the device call carries .whl (see bench/gpu/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
    "diffusers==$(.venv/bin/python -c 'import diffusers; print(diffusers.__version__)')" importlib_metadata
ls -la .whl
