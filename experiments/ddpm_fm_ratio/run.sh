#!/usr/bin/env bash
# Experiments 2 and 6 (issue 6) on the K=8 MNIST ensemble, training seed 0: the 8 FM experts (homogeneous) against
# the same ensemble with DDPM-eps experts on the nested cluster sets {2}, {2,6} (= experiment 2's heterogeneous
# ensemble), {2,6,4,5}; same router, Top-2, Euler 50, CFG 3, n=N, diversity 20 prompts x 10, sampling seed 0.
# Trains what is missing (resumes / skips what is done). Usage: bash experiments/ddpm_fm_ratio/run.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline
PY=${PY:-.venv/bin/python}; N=${N:-500}; OUT=${OUT:-experiments/ddpm_fm_ratio/results_s0}
E=runs/experts; R=runs/routers/router_kmeans8_tiny_text-False_s0/router
OMP_NUM_THREADS=1 $PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 objective=fm cluster=0,1,2,3,4,5,6,7
OMP_NUM_THREADS=1 $PY -m hddm.train -m hydra/launcher=local experiment=mnist_k8 objective=ddpm cluster=6,4,5,2
test -f $R/manifest.json || $PY -m hddm.train_router partition=file partition.num_clusters=8 trainer.max_steps=1000 \
    optim.lr=1e-3 optim.lr_min=1e-5 trainer.enable_progress_bar=false
obj() { case " $1 " in *" $2 "*) echo ddpm;; *) echo fm;; esac; }   # obj "<ddpm clusters>" <cluster>
experts() { local l=""; for c in 0 1 2 3 4 5 6 7; do l="$l,$E/$(obj "$1" $c)_kmeans8_c${c}_tiny_s0/expert"; done; echo "[${l#,}]"; }
for set in "" "2" "2 6" "2 6 4 5"; do
  name=ddpm_$(echo ${set:-none} | tr ' ' '_')
  $PY -m hddm.evaluate ensemble=mnist_k8 "ensemble.experts=$(experts "$set")" ensemble.router=$R routing=top2 n=$N \
      "metrics=[domain_fid,clip,diversity]" metrics.domain_fid.reference_max_items=2000 metrics.diversity.prompts=20 \
      metrics.diversity.images_per_prompt=10 steps=50 cfg_scale=3 trainer.enable_progress_bar=false hydra.run.dir=$OUT/$name
done
for set in none 2 2_6 2_6_4_5; do tail -1 $OUT/ddpm_$set/results.md; done
