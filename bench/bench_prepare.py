"""Cost of `hddm.prepare`: the embedded MNIST pipeline timed stage by stage, and the real-scale encoders'
per-image cost measured here, from which the real-scale throughput is estimated.

Part 1, measured (all 60k images of the MNIST trainval pool, CPU, fp32), each stage timed on its own:
  cnn_train        training the mnist-cnn recipe (1500 steps, batch 128, one thread; cached in real runs)
  cnn_features     its 128-d penultimate features of all 60k images
  pixel_features   the 784-d pixel features
  fine_kmeans      fine level: 1024 groups of the L2-normalised features (scikit-learn KMeans, seed 0)
  coarse_kmeans    the 1024 fine centroids into 8 clusters (KMeans, 10 restarts)
  assign           nearest coarse centroid (cosine) for all 60k
The clustering is timed on the mnist-cnn features (the default). Cache writes (sha256, safetensors) are not included.

Part 2, measured per image on this CPU with randomly initialised networks (weights do not change the cost):
  DINOv2 ViT-L/14 at 224 (timm vit_large_patch14_dinov2, [CLS] of the last layer), the SD-VAE encoder at 256
  (diffusers AutoencoderKL with Stable Diffusion's layout), the CLIP ViT-L/14 text tower on 77 tokens (the
  project's OpenCLIPTextEncoder), at batch 2: FLOPs counted by torch.utils.flop_counter and CPU seconds; and
  decoding + centre-crop + resize of a 512x384 JPEG (per CPU core). A GPU throughput is then *assumed*
  (stated in the results) to turn FLOPs into images/s per GPU and hours for 11M images.

Run (from the repository root; about 10 minutes on 2 CPU cores):
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_prepare.py
Results: bench/results/prepare_mnist.{json,md}.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # hddm from this checkout

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from hddm.data.clustering import kmeans, nearest, normalize_rows  # noqa: E402
from hddm.data.embedded import mnist_pool  # noqa: E402
from hddm.data.features import DigitCNNFeatures, PixelFeatures  # noqa: E402
from hddm.data.image_captions import decode  # noqa: E402
from hddm.models.digit_cnn import DigitCNNRecipe, train_digit_cnn  # noqa: E402
from hddm.prepare_config import FeaturesConfig  # noqa: E402

REAL_SCALE_IMAGES = 11_000_000
# Assumptions (not measured here): one A100 80GB, dense bf16 tensor-core peak, and the fraction of it each
# encoder sustains at large batch. hddm.prepare runs them under bf16 autocast on GPUs (precision=auto).
GPU = {
    "name": "NVIDIA A100 80GB (assumed)",
    "peak_bf16_flops": 312e12,
    "utilisation": {"dinov2_vitl14": 0.40, "sd_vae_encoder": 0.25, "clip_vitl14_text": 0.40},
}
# MiniBatchKMeans passes over the fit sample (cluster.fit_max_items = 2M): assumed; it usually stops earlier.
CLUSTER_ASSUMPTIONS = {"fit_items": 2_000_000, "epochs": 10, "feature_dim": 1024, "fine_k": 1024, "k": 8}


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, round(time.perf_counter() - started, 3)


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


@torch.no_grad()
def batched(fn, x, batch):
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def clustering_stages(features: np.ndarray, fine_k=1024, k=8) -> dict:
    """The three steps of fit_hierarchical_kmeans + assignment, timed one by one (same calls, same seed)."""
    points = normalize_rows(features)
    fine, fine_seconds = timed(kmeans, points, fine_k, 0, "kmeans", 100, 1)
    fine = normalize_rows(fine)
    coarse, coarse_seconds = timed(kmeans, fine, k, 0, "kmeans", 300, 10)
    _, assign_seconds = timed(nearest, points, normalize_rows(coarse), "cosine")
    flops_per_iteration = 2 * len(points) * fine_k * points.shape[1]
    return {
        "fine_kmeans_s": fine_seconds,
        "coarse_kmeans_s": coarse_seconds,
        "assign_s": assign_seconds,
        "items": len(points),
        "dim": int(points.shape[1]),
        "fine_k": fine_k,
        "k": k,
        "fine_distance_flops_per_lloyd_iteration": flops_per_iteration,
    }


def lloyd_flops_per_second(dim: int, fine_k: int = 1024, items: int = 20000, iterations: int = 5) -> float:
    """Measured throughput of scikit-learn's Lloyd iterations (distance GEMM + update) on this machine."""
    from sklearn.cluster import KMeans

    x = normalize_rows(np.random.default_rng(0).normal(size=(items, dim)).astype(np.float32))
    init = x[:fine_k]
    model, seconds = timed(KMeans(fine_k, init=init, n_init=1, max_iter=iterations, tol=0, random_state=0).fit, x)
    return 2 * items * fine_k * dim * model.n_iter_ / seconds


def mnist_part(cache_dir: str) -> dict:
    images, labels = mnist_pool(cache_dir, "trainval")
    train_images, train_labels = images[:50000], labels[:50000]  # the pool starts with MNIST train
    model, train_seconds = timed(train_digit_cnn, train_images, train_labels, DigitCNNRecipe())
    uint8 = torch.from_numpy(images)[:, None]
    batch = FeaturesConfig().batch_size  # what the features stage uses
    cnn, cnn_seconds = timed(batched, DigitCNNFeatures(model, "bench", torch.device("cpu")), uint8, batch)
    _, pixel_seconds = timed(batched, PixelFeatures(), uint8, batch)
    return {
        "images": len(images),
        "features": {
            "cnn_train_s": train_seconds,
            "cnn_features_s": cnn_seconds,
            "pixel_features_s": pixel_seconds,
            "cnn_features_per_s": round(len(images) / cnn_seconds),
        },
        "clustering": clustering_stages(cnn.numpy()),
    }


def per_image(module_call, inputs, repeats=3) -> dict:
    """FLOPs per image (counted) and CPU seconds per image (median of repeats, after one warm-up)."""
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            module_call(inputs)
        times = []
        for _ in range(repeats):
            _, seconds = timed(module_call, inputs)
            times.append(seconds)
    batch = len(inputs)
    return {
        "batch": batch,
        "gflops_per_image": round(counter.get_total_flops() / batch / 1e9, 2),
        "cpu_s_per_image": round(float(np.median(times)) / batch, 3),
    }


def dinov2_cost() -> dict:
    """timm's DINOv2 ViT-L/14 at 224, [CLS] of the last layer (as hddm.data.features), random weights."""
    import timm

    vit = timm.create_model("vit_large_patch14_dinov2", pretrained=False, img_size=224, num_classes=0).eval()
    return per_image(lambda x: vit.forward_features(x)[:, 0], torch.randn(2, 3, 224, 224))


def sd_vae_cost() -> dict:
    """Stable Diffusion's VAE layout (the sd-vae-ft-ema config), random weights: same cost, no download."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=2,
        sample_size=256,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=32,
    ).eval()
    return per_image(lambda x: vae.encode(x).latent_dist.mean, torch.randn(2, 3, 256, 256))


def clip_text_cost() -> dict:
    """The project's OpenCLIPTextEncoder (ViT-L/14 text tower, 77 tokens), random weights."""
    from hddm.models.text import OpenCLIPTextEncoder

    text = OpenCLIPTextEncoder("ViT-L-14", pretrained=None)
    return per_image(text, ["a photograph of a red sports car parked by the sea at sunset, highly detailed"] * 2)


def jpeg_decode_seconds(repeats=50) -> float:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (384, 512, 3), dtype=np.uint8)).save(
        buffer, "JPEG", quality=90
    )
    data = buffer.getvalue()
    decode(data, 256)
    _, seconds = timed(lambda: [decode(data, 256) for _ in range(repeats)])
    return seconds / repeats


def real_scale_part() -> dict:
    costs = {"dinov2_vitl14": dinov2_cost(), "sd_vae_encoder": sd_vae_cost(), "clip_vitl14_text": clip_text_cost()}
    decode_seconds = jpeg_decode_seconds()

    estimate, gpu_seconds_per_image = {}, 0.0
    for name, cost in costs.items():
        sustained = GPU["peak_bf16_flops"] * GPU["utilisation"][name]
        images_per_s = sustained / (cost["gflops_per_image"] * 1e9)
        gpu_seconds_per_image += 1 / images_per_s
        estimate[name] = {
            "images_per_s_per_gpu": round(images_per_s),
            "gpu_hours_11M": round(REAL_SCALE_IMAGES / images_per_s / 3600, 1),
        }
    all_encoders = 1 / gpu_seconds_per_image
    estimate["all_encoders"] = {
        "images_per_s_per_gpu": round(all_encoders),
        "gpu_hours_11M": round(REAL_SCALE_IMAGES / all_encoders / 3600, 1),
        "cpu_cores_per_gpu_for_jpeg_decoding": round(all_encoders * decode_seconds, 1),
    }
    c = CLUSTER_ASSUMPTIONS
    measured_flops = lloyd_flops_per_second(c["feature_dim"], c["fine_k"])
    fit_flops = 2 * c["epochs"] * c["fit_items"] * c["fine_k"] * c["feature_dim"]
    assign_flops = 2 * REAL_SCALE_IMAGES * c["k"] * c["feature_dim"]
    estimate["clustering_cpu"] = {
        "measured_kmeans_gflops_per_s_here": round(measured_flops / 1e9, 1),
        "fit_tflop": round(fit_flops / 1e12, 1),
        "minutes_on_this_machine": round((fit_flops + assign_flops) / measured_flops / 60, 1),
    }
    return {
        "measured_per_image": costs,
        "jpeg_decode_crop_resize_s_per_image_per_core": round(decode_seconds, 4),
        "assumptions": {"gpu": GPU, "clustering": CLUSTER_ASSUMPTIONS, "images": REAL_SCALE_IMAGES},
        "estimate": estimate,
    }


def markdown(results: dict) -> str:
    m, r = results["mnist"], results["real_scale"]
    lines = [
        f"# hddm.prepare cost ({results['date']})",
        "",
        f"`{results['command']}`",
        "",
        f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores (shared), torch "
        f"{results['machine']['torch']}, scikit-learn {results['machine']['sklearn']}, load average at start "
        f"{', '.join(f'{v:.1f}' for v in results['machine']['load_average_at_start'])}.",
        "",
        f"## MNIST trainval pool ({m['images']} images), measured, seconds",
        "",
        "| stage | seconds |",
        "|---|---|",
        f"| features: train the digit CNN (once; cached afterwards) | {m['features']['cnn_train_s']} |",
        f"| features: extract mnist-cnn (128-d) | {m['features']['cnn_features_s']} |",
        f"| features: pixels (784-d), for comparison | {m['features']['pixel_features_s']} |",
    ]
    for stage, label in (
        ("fine_kmeans_s", "clustering: fine, 1024 groups"),
        ("coarse_kmeans_s", "clustering: coarse, 8 clusters"),
        ("assign_s", "clustering: assign 60k to nearest coarse centroid"),
    ):
        lines.append(f"| {label} | {m['clustering'][stage]} |")
    lines += [
        "",
        "## Real-scale encoders: measured per image here (random weights, batch 2, fp32 CPU)",
        "",
        "| encoder | GFLOPs / image (counted) | CPU s / image (here) | assumed GPU utilisation | images/s per GPU (estimate) | GPU-hours for 11M |",
        "|---|---|---|---|---|---|",
    ]
    for name, cost in r["measured_per_image"].items():
        e = r["estimate"][name]
        lines.append(
            f"| {name} | {cost['gflops_per_image']} | {cost['cpu_s_per_image']} | "
            f"{GPU['utilisation'][name]:.0%} of {GPU['peak_bf16_flops'] / 1e12:.0f} TFLOPS | {e['images_per_s_per_gpu']} | {e['gpu_hours_11M']} |"
        )
    a, c = r["estimate"]["all_encoders"], r["estimate"]["clustering_cpu"]
    lines += [
        f"| all three, one after another | | | | {a['images_per_s_per_gpu']} | {a['gpu_hours_11M']} |",
        "",
        f"JPEG decode + centre crop + resize to 256 (512x384 source): {r['jpeg_decode_crop_resize_s_per_image_per_core'] * 1000:.1f} ms "
        f"per image per core (measured) -> about {a['cpu_cores_per_gpu_for_jpeg_decoding']} CPU cores per GPU to keep up.",
        "",
        f"Clustering at real scale (CPU): scikit-learn k-means runs at {c['measured_kmeans_gflops_per_s_here']} GFLOP/s here (measured); "
        f"fitting 1024 fine groups on a 2M sample of 1024-d features for 10 epochs (assumed) is {c['fit_tflop']} TFLOP -> "
        f"{c['minutes_on_this_machine']} min of distance computations at this machine's speed, plus reading the 11M features twice.",
    ]
    return "\n".join(lines) + "\n"


def main():
    cache_dir = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    results = {
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python bench/"
        + " ".join(map(shlex.quote, [Path(sys.argv[0]).name, *sys.argv[1:]])),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
    }
    results["mnist"] = mnist_part(cache_dir)
    print(json.dumps(results["mnist"], indent=1), flush=True)
    results["real_scale"] = real_scale_part()
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "prepare_mnist.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "prepare_mnist.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
