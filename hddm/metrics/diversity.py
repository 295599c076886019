"""Intra-prompt diversity (the paper's protocol): for each of P prompts, M images; the mean pairwise perceptual
distance within each prompt's images (higher = more diverse), reported as mean and std across prompts.

The perceptual distance is LPIPS (torchmetrics) when a backbone weights file is given. LPIPS backbones
(torchvision ImageNet AlexNet/VGG/SqueezeNet) cannot be downloaded here, so without one a stand-in is used and
named as such: DSSIM = (1 - SSIM) / 2 (torchmetrics SSIM, Gaussian window), a structural distance in [0, 1].
Every result says which distance produced it.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Callable

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from hddm.errors import HddmError

STANDIN_NAME = "dssim_standin"  # (1 - SSIM) / 2, not LPIPS
LPIPS_BACKBONES = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}

PairDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # images [B, C, H, W] in [-1, 1] x2 -> [B]


@dataclass
class PerceptualDistance:
    distance: PairDistance
    implementation: dict

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.distance(a, b)


def dssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ssim = structural_similarity_index_measure(a.float(), b.float(), data_range=2.0, reduction="none")
    return ((1 - ssim) / 2).clamp(min=0)


@contextmanager
def torchvision_weights_at(path: Path, net_type: str):
    """Make torchvision find the LPIPS backbone at `path` instead of downloading it (a hub cache holding only it)."""
    import torchvision.models as models

    expected = Path(getattr(models, LPIPS_BACKBONES[net_type]).DEFAULT.url).name
    previous = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as hub:
        (Path(hub) / "checkpoints").mkdir()
        os.symlink(path.resolve(), Path(hub) / "checkpoints" / expected)
        torch.hub.set_dir(hub)
        try:
            yield
        finally:
            torch.hub.set_dir(previous)


def lpips_distance(weights: str, net_type: str = "alex") -> PerceptualDistance:
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    path = Path(weights).expanduser()
    if net_type not in LPIPS_BACKBONES:
        raise HddmError(f"diversity.lpips_net must be one of {sorted(LPIPS_BACKBONES)}, not {net_type!r}")
    if not path.is_file():
        raise HddmError(
            f"LPIPS backbone weights {path} not found: give torchvision's {LPIPS_BACKBONES[net_type]} file, "
            "or leave diversity.lpips_weights unset for the named stand-in"
        )
    with torchvision_weights_at(path, net_type):
        lpips = LearnedPerceptualImagePatchSimilarity(net_type=net_type, reduction="none").eval()

    def distance(a, b):
        grey = a.shape[1] == 1
        with torch.no_grad():
            return lpips(a.expand(-1, 3, -1, -1) if grey else a, b.expand(-1, 3, -1, -1) if grey else b).flatten()

    return PerceptualDistance(distance, {"name": f"lpips_{net_type}", "library": "torchmetrics", "backbone": str(path)})


def perceptual_distance(lpips_weights: str | None = None, net_type: str = "alex") -> PerceptualDistance:
    """LPIPS when given its backbone weights, else the named DSSIM stand-in."""
    if lpips_weights:
        return lpips_distance(lpips_weights, net_type)
    return PerceptualDistance(
        dssim,
        {
            "name": STANDIN_NAME,
            "library": "torchmetrics SSIM (gaussian 11x11, sigma 1.5)",
            "note": "stand-in for LPIPS (no offline LPIPS backbone): (1 - SSIM) / 2",
        },
    )


def mean_pairwise_distance(images: torch.Tensor, distance: PairDistance) -> float:
    """Mean distance over all unordered pairs of one prompt's images [M, C, H, W] (M >= 2)."""
    if len(images) < 2:
        raise HddmError("diversity needs at least 2 images per prompt: set diversity.images_per_prompt >= 2")
    first, second = zip(*combinations(range(len(images)), 2))
    return float(distance(images[list(first)], images[list(second)]).mean())


def summarize(per_prompt: torch.Tensor, implementation: dict) -> dict:
    """mean and std (unbiased, across prompts) of per-prompt diversities."""
    per_prompt = per_prompt.double()
    std = float(per_prompt.std()) if len(per_prompt) > 1 else 0.0
    return {"mean": float(per_prompt.mean()), "std": std, "prompts": len(per_prompt), "distance": implementation}
