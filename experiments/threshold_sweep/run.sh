#!/usr/bin/env bash
# Experiments 3, 4 and 5 (issue 6) for one training SEED: the cluster-2 experts (digit 3) of train_cluster2.sh,
# threshold routing (no router; tau = 0 is FM alone, tau = 1 the converted DDPM expert alone) and each DDPM expert's
# native DDIM. Prompt "a handwritten digit three"; domain FID against the MNIST-test threes (reference_labels=[3]).
# Re-running skips finished jobs. PARTS (default "ordering conversion") adds experiment 4's ddpm_first sweep and
# experiment 5's extra rows to the tau sweep. Usage: HDDM_CACHE=/work/cache_demo SEED=0 bash experiments/threshold_sweep/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}; SEED=${SEED:-0}; N=${N:-100}; OUT=${OUT:-runs/issue6/threshold_s$SEED}
PARTS=${PARTS:-ordering conversion}; has() { case " $PARTS " in *" $1 "*) true;; *) false;; esac; }
LINEAR=$(has conversion && echo 1 || echo 0) bash experiments/threshold_sweep/train_cluster2.sh
E=runs/experts; FM=$E/fm_kmeans8_c2_tiny_s$SEED/expert; DDPM=$E/ddpm_kmeans8_c2_tiny_s$SEED/expert
DDPM_LINEAR=$E/ddpm_linear_kmeans8_c2_tiny_s$SEED/expert
common=(ensemble=mnist_k8 ensemble.router=null "prompts=[a handwritten digit three]" n=$N steps=50 cfg_scale=3
        "metrics=[domain_fid,clip,diversity]" "metrics.domain_fid.reference_labels=[3]"
        metrics.diversity.prompts=${DIVP:-5} metrics.diversity.images_per_prompt=${DIVM:-10} trainer.enable_progress_bar=false)
sweep() { $PY -m hddm.evaluate -m "${common[@]}" routing=threshold hydra/launcher=local hydra.launcher.n_jobs=${JOBS:-2} \
              'hydra.sweep.subdir=${routing.order}_tau${routing.tau}_${conversion.mode}' "$@"; }
# exp 3 (and exp 5's FM-alone / DDPM-alone / combined rows)
sweep "ensemble.experts=[$FM,$DDPM]" routing.order=fm_first routing.tau=0.0,0.2,0.3,0.4,0.5,0.6,0.7,1.0 hydra.sweep.dir=$OUT/fm_first
# exp 4: DDPM-first at the same taus (the FM-first rows come from the sweep above)
has ordering && sweep "ensemble.experts=[$FM,$DDPM]" routing.order=ddpm_first routing.tau=0.3,0.5,0.7 hydra.sweep.dir=$OUT/ddpm_first
if has conversion; then
  # exp 5: snr_matched conversion; the DDPM expert on FM's own linear schedule (same schedule) in place of cosine
  sweep "ensemble.experts=[$FM,$DDPM]" routing.order=fm_first routing.tau=0.5,1.0 conversion=snr_matched hydra.sweep.dir=$OUT/snr_matched
  sweep "ensemble.experts=[$FM,$DDPM_LINEAR]" routing.order=fm_first routing.tau=0.5,1.0 hydra.sweep.dir=$OUT/same_schedule
  # exp 5: native DDIM of each DDPM expert (its own schedule, no velocity), the two at once
  native() { $PY -m hddm.evaluate "${common[@]}" "ensemble.experts=[$E/$1_kmeans8_c2_tiny_s$SEED/expert]" solver=ddim \
                 routing=top1 hydra.run.dir=$OUT/native_ddim/$1; }
  native ddpm & cosine=$!; native ddpm_linear & linear=$!
  wait $cosine; wait $linear
fi
for d in fm_first ddpm_first snr_matched same_schedule native_ddim; do test ! -d $OUT/$d || $PY -m hddm.report $OUT/$d; done
$PY experiments/threshold_sweep/make_tables.py $SEED
