"""Score the four runs of run.sh: training-loss curves, samples through the ensemble sampler (one expert,
`routing=random_top2 routing.k=1`, so DiffMoE's C_infer lands in the sample record), prompt adherence and
domain FID (mnist-cnn) against a fixed 2000-image subset of MNIST test. Writes results.{json,md},
loss_curves.{json,png} and grid_<model>.png next to this file.

    OUT=/tmp/diffmoe_runs N=200 .venv/bin/python experiments/diffmoe/evaluate.py
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from hddm.data.mnist import digit_prompt  # noqa: E402
from hddm.metrics.domain_fid import domain_fid_implementation, make_domain_fid  # noqa: E402
from hddm.metrics.reference_stats import load_reference, reference_images  # noqa: E402

MODELS = {
    "tiny": "dense DiT",
    "tc_tiny_e16": "TC-DiT (top-1)",
    "ec_tiny_e16": "EC-DiT (within sample)",
    "diffmoe_tiny_e16": "DiffMoE (global pool, dynamic CP)",
}
REFERENCE_ITEMS = 2000


def loss_curve(run: Path) -> list[tuple[int, float]]:
    rows = csv.DictReader((run / "logs" / "version_0" / "metrics.csv").open())
    return [(int(r["step"]), float(r["train/loss"])) for r in rows if r.get("train/loss")]


def val_loss(run: Path) -> float | None:
    rows = [r for r in csv.DictReader((run / "logs" / "version_0" / "metrics.csv").open()) if r.get("val/loss")]
    return float(rows[-1]["val/loss"]) if rows else None


def sample(run: Path, n: int) -> dict:
    out = run / "eval_samples"
    prompts = "[" + ",".join(digit_prompt(d) for d in range(10)) + "]"
    command = [
        sys.executable,
        "-m",
        "hddm.sample",
        f"ensemble.experts=[{run / 'expert'}]",
        "ensemble.router=null",
        "routing=random_top2",
        "routing.k=1",
        f"prompts={prompts}",
        f"n={n}",
        "steps=50",
        "cfg_scale=3.0",
        "batch_size=100",
        f"hydra.run.dir={out}",
    ]
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads((out / "record.json").read_text())


def domain_fid(images: torch.Tensor, cache_dir: str) -> float:
    metric = make_domain_fid(cache_dir)
    reference, source = reference_images("mnist", "test", cache_dir, REFERENCE_ITEMS)
    load_reference(
        metric, "domain_fid_mnist_cnn", domain_fid_implementation(metric.inception), reference, source, cache_dir
    )
    metric.update(((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8), real=False)
    return float(metric.compute())


def main():
    out_root, n = Path(os.environ.get("OUT", "/tmp/diffmoe_runs")), int(os.environ.get("N", "200"))
    cache_dir = os.environ.get("HDDM_CACHE", "/tmp/moe_cache")
    curves, results = {}, []
    for model, label in MODELS.items():
        run = out_root / model
        curves[model] = loss_curve(run)
        record = sample(run, n)
        images = torch.load(run / "eval_samples" / "samples.pt", weights_only=True)
        shutil.copy(run / "eval_samples" / "grid.png", HERE / f"grid_{model}.png")
        trained = json.loads((run / "result.json").read_text())
        c_infer = next(iter(record.get("c_infer", {}).values()), None)
        last = [loss for _, loss in curves[model][-10:]]
        results.append(
            {
                "model": model,
                "label": label,
                "steps": trained["steps"],
                "train_loss_last100": sum(last) / len(last),
                "val_loss": val_loss(run),
                "domain_fid_mnist_cnn": domain_fid(images, cache_dir),
                "n": n,
                "reference": f"MNIST test, {REFERENCE_ITEMS} images",
                "prompt_adherence": record["metrics"]["prompt_adherence"]["accuracy"],
                "c_infer_avg": None if c_infer is None else c_infer["c_infer_avg"],
                "activated_parameters": None if c_infer is None else c_infer["activated_parameters"],
                "sampling_seconds": record["seconds"],
            }
        )
    (HERE / "loss_curves.json").write_text(json.dumps(curves) + "\n")
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    figure, axis = plt.subplots(figsize=(7, 4))
    for model, points in curves.items():
        steps, losses = zip(*points)
        smooth = [sum(losses[max(0, i - 4) : i + 1]) / len(losses[max(0, i - 4) : i + 1]) for i in range(len(losses))]
        axis.plot(steps, smooth, label=MODELS[model])
    axis.set(
        xlabel="step",
        ylabel="train loss (FM, 5-point mean)",
        ylim=(None, 1.0),
        title="MNIST, tiny width, equal activated params",
    )
    axis.legend()
    figure.tight_layout()
    figure.savefig(HERE / "loss_curves.png", dpi=120)
    lines = [
        "| model | steps | train loss (last 100 steps) | val loss | domain FID (mnist-cnn) | prompt adherence | C_infer avg |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = "1 (fixed)" if r["c_infer_avg"] is None else f"{r['c_infer_avg']:.3f}"
        val = "-" if r["val_loss"] is None else f"{r['val_loss']:.4f}"
        lines.append(
            f"| {r['label']} | {r['steps']} | {r['train_loss_last100']:.4f} | {val} | {r['domain_fid_mnist_cnn']:.1f} | "
            f"{r['prompt_adherence']:.3f} | {c} |"
        )
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
