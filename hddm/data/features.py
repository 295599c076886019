"""Image feature extractors for the clustering, and the sharded features stage that caches their output.

* "dinov2" (real-scale default, as in the paper): the [CLS] token of the last layer (after the final norm)
  of a timm DINOv2 ViT, 1024-d for ViT-L/14; input resized to 224 with ImageNet normalisation. Weights from
  the hub ("hub"), a local file, or "none" (random init: tests and cost measurements only).
* "mnist_cnn" (embedded default): the penultimate layer (128-d) of hddm.models.digit_cnn, a classifier the
  project trained on MNIST train labels (shipped for the default recipe, `cnn_steps=1500`). Its clusters follow
  digit identity by construction.
* "pixels": the raw pixels in [-1, 1], flattened; a label-free baseline.
* "colour_quantiles" (styled digits): per channel, the 5/25/50/75/95 % quantiles of the pixel values in [-1, 1] of
  the image's top and bottom halves (30-d for RGB). Label-free and without a network; it describes the global
  appearance (card and ink colours, a vertical gradient, grain) and not the digit's shape, as DINOv2's [CLS]
  token does for real images. Compared with the euclidean metric: these are not directions.

All take uint8 images [B, C, H, W] and return float32 [B, D].
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from hddm.data.caches import ShardedCache, keys_digest
from hddm.data.image_captions import ImageSource
from hddm.errors import HddmError
from hddm.io import sha256_file
from hddm.models.digit_cnn import one_thread, to_model_input

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def autocast(device: torch.device, precision: str):
    """bf16 autocast on GPUs when asked; fp32 otherwise (CPU bf16 is slower, not faster)."""
    if precision == "bfloat16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class PixelFeatures:
    def __init__(self):
        self.extractor_id = "pixels"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1).float() / 127.5 - 1.0


class ColourQuantiles:
    QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
    extractor_id = "colour-quantiles/5q/2halves"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pixels, half = images.float() / 127.5 - 1.0, images.shape[-2] // 2
        q = torch.tensor(self.QUANTILES)
        parts = [
            torch.quantile(part.flatten(2), q, dim=2).permute(1, 2, 0).flatten(1)
            for part in (pixels[..., :half, :], pixels[..., half:, :])
        ]
        return torch.cat(parts, 1)


class DigitCNNFeatures:
    def __init__(self, model, weights_sha256: str, device: torch.device):
        self.model, self.device = model.to(device), device
        self.extractor_id = self.id_of(weights_sha256)

    @staticmethod
    def id_of(weights_sha256: str) -> str:
        return f"mnist-cnn/{weights_sha256[:16]}"

    @torch.no_grad()
    @one_thread()  # a net this small loses more to thread contention on shared CPUs than it gains
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:] != (1, 28, 28):
            raise HddmError(
                f"features.name=mnist_cnn reads 1x28x28 digits, not {tuple(images.shape[1:])} images: use "
                "features.name=dinov2"
            )
        return self.model.features(to_model_input(images).to(self.device)).float().cpu()


class DINOv2Features:
    def __init__(
        self, model_name: str, weights: str, input_size: int, model_kwargs: dict, device: torch.device, precision: str
    ):
        self.extractor_id = dinov2_id(model_name, weights, input_size, model_kwargs)  # checks the weights file first
        self.model = build_timm_vit(model_name, weights, input_size, model_kwargs).to(device)
        self.input_size, self.device, self.precision = input_size, device, precision
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device).float() / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey digits -> RGB
        if x.shape[-1] != self.input_size:
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bicubic", antialias=True, align_corners=False
            )
        x = (x.clamp(0, 1) - self.mean) / self.std
        with autocast(self.device, self.precision):
            tokens = self.model.forward_features(x)  # [B, 1 + registers + patches, D], after the final norm
        return tokens[:, 0].float().cpu()  # the [CLS] token


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def dinov2_id(model_name: str, weights: str, input_size: int, model_kwargs: dict) -> str:
    kwargs = ",".join(f"{k}={v}" for k, v in sorted(model_kwargs.items()))
    return f"timm/{model_name}/{weights_id(weights)}/in{input_size}/{kwargs}/cls-last"


def weights_id(weights: str) -> str:
    """'hub', 'none' (random init) or a local file named by its content hash (a renamed file is no change)."""
    if weights in ("hub", "none"):
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise HddmError(f"weights file {path} not found: set features.weights to a local file, 'hub' or 'none'")
    return f"sha256:{sha256_file(path)[:16]}"


def build_timm_vit(model_name: str, weights: str, input_size: int, model_kwargs: dict):
    import timm

    torch.manual_seed(0)  # random init ('none') is reproducible too
    pretrained = weights != "none"
    overlay = {"file": str(Path(weights).expanduser())} if pretrained and weights != "hub" else None
    try:
        model = timm.create_model(
            model_name,
            pretrained=pretrained,
            pretrained_cfg_overlay=overlay,
            img_size=input_size,
            num_classes=0,
            **model_kwargs,
        )
    except (RuntimeError, OSError, ValueError) as error:  # unknown name, offline hub, mismatched file
        raise HddmError(
            f"cannot build {model_name} with weights={weights} ({first_line(error)}): "
            f"give a local weights file (features.weights=/path) or check features.model"
        ) from None
    return model.eval().requires_grad_(False)


def extractor_id(name: str, cfg, cache_dir: str) -> str:
    """The id build_extractor's extractor will have, without building the network (resumed runs skip that)."""
    if name == "mnist_cnn":
        from hddm.models.digit_cnn import DigitCNNRecipe, cached_digit_cnn

        return DigitCNNFeatures.id_of(cached_digit_cnn(cache_dir, DigitCNNRecipe(steps=cfg.cnn_steps))[1]["sha256"])
    if name == "dinov2":
        return dinov2_id(cfg.model, cfg.weights, cfg.input_size, dict(cfg.model_kwargs))
    return ColourQuantiles.extractor_id if name == "colour_quantiles" else PixelFeatures().extractor_id


def build_extractor(name: str, cfg, cache_dir: str, device: torch.device, precision: str):
    """name: dinov2 | mnist_cnn | pixels | colour_quantiles; cfg: the `features` config node."""
    if name == "pixels":
        return PixelFeatures()
    if name == "colour_quantiles":
        return ColourQuantiles()
    if name == "mnist_cnn":
        from hddm.models.digit_cnn import DigitCNNRecipe, cached_digit_cnn

        model, manifest = cached_digit_cnn(cache_dir, DigitCNNRecipe(steps=cfg.cnn_steps))
        return DigitCNNFeatures(model, manifest["sha256"], device)
    if name == "dinov2":
        return DINOv2Features(cfg.model, cfg.weights, cfg.input_size, dict(cfg.model_kwargs), device, precision)
    raise HddmError(
        f"unknown feature extractor {name!r}: choose features.name=dinov2, mnist_cnn, pixels or colour_quantiles"
    )


def extract_shard(extractor: Callable, source: ImageSource, index: int, batch_size: int, dtype: torch.dtype):
    """(tensors, metadata, record info) of one features shard: `features` [n, D], `labels` where known."""
    keys, features, labels, skipped = [], [], [], 0
    for batch in source.iter_shard(index, batch_size):
        skipped += batch.skipped
        if batch.keys:
            keys += batch.keys
            features.append(extractor(batch.images).to(dtype))
            labels.append(batch.labels)
    if not keys:
        raise HddmError(f"shard {index} of the source has no readable images: check the images under source.path")
    tensors = {"features": torch.cat(features)}
    if labels[0] is not None:
        tensors["labels"] = torch.cat(labels)
    return (
        tensors,
        {"keys": json.dumps(keys)},
        {"rows": len(keys), "skipped": skipped, "keys_sha256": keys_digest(keys)},
    )


def features_cache(
    root: str | Path, dataset: str, extractor_id: str, source: ImageSource, dtype: str, precision: str
) -> ShardedCache:
    """The cache folder of these features: any change of extractor, data, resolution, crop, dtype or
    precision selects another folder."""
    key = {
        "stage": "features",
        "extractor": extractor_id,
        "source": source.fingerprint,
        "resolution": source.resolution,
        "crop": source.crop,
        "dtype": dtype,
        "precision": precision,
    }
    return ShardedCache.under(Path(root).expanduser() / "features", dataset, key)
