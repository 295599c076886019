#!/usr/bin/env bash
# Evaluations of experiments 1, 2 and 6 for one training SEED (after experiments/issue6_train.sh).
# domain FID (mnist-cnn, not FID) vs a fixed 2000-image MNIST-test subset, prompt adherence (digit CNN, the
# offline stand-in for CLIP score), diversity = dssim_standin (not LPIPS); Euler 50 steps, CFG 3, sampling seed 0.
set -euo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}; N=${N:-500}; NFULL=${NFULL:-300}; OUT=${OUT:-runs/issue6/k8_s$SEED}
E=runs/experts; R=runs/routers/router_kmeans8_tiny_text-False_s0/router
obj() { case " $1 " in *" $2 "*) echo ddpm;; *) echo fm;; esac; }   # obj "<ddpm clusters>" <cluster>
experts() { local l=""; for c in 0 1 2 3 4 5 6 7; do l="$l,$E/$(obj "$1" $c)_kmeans8_c${c}_tiny_s$SEED/expert"; done; echo "[${l#,}]"; }
metrics=("metrics=[domain_fid,clip,diversity]" metrics.domain_fid.reference_max_items=2000
         metrics.diversity.prompts=20 metrics.diversity.images_per_prompt=10 steps=50 cfg_scale=3)
# exp 1: monolithic (listed twice, threshold tau=0 listed: the first copy integrates every step) vs K=8 FM experts, top1 / top2 (n=N) and full (n=NFULL)
$PY -m hddm.evaluate ensemble=mnist_k8 "ensemble.experts=[$E/fm_monolithic_tiny_6400_s$SEED/expert,$E/fm_monolithic_tiny_6400_s$SEED/expert]" ensemble.router=null \
    routing=threshold routing.order=listed routing.tau=0.0 n=$N "${metrics[@]}" hydra.run.dir=$OUT/monolithic
$PY -m hddm.evaluate -m hydra/launcher=local ensemble=mnist_k8 "ensemble.experts=$(experts "")" ensemble.router=$R \
    routing=top1,top2 n=$N "${metrics[@]}" hydra.sweep.dir=$OUT/fm8
$PY -m hddm.evaluate ensemble=mnist_k8 "ensemble.experts=$(experts "")" ensemble.router=$R routing=full n=$NFULL \
    "${metrics[@]}" hydra.run.dir=$OUT/fm8_full
# exp 2 and 6: DDPM on the nested sets {2}, {2,6} (= exp 2's heterogeneous ensemble), {2,6,4,5}; Top-2 as in exp 1
for set in "2" "2 6" "2 6 4 5"; do
  name=ddpm_$(echo $set | tr ' ' '_')
  $PY -m hddm.evaluate ensemble=mnist_k8 "ensemble.experts=$(experts "$set")" ensemble.router=$R routing=top2 n=$N \
      "${metrics[@]}" hydra.run.dir=$OUT/$name
done
