"""Domain FID (mnist-cnn): the Frechet distance of the project's digit classifier's 128-d penultimate features
(hddm.models.digit_cnn), through the same torchmetrics FrechetInceptionDistance in float64.

Fast enough to run during training, and sensitive to digit shape; it is not FID (no Inception, no ImageNet
features) and is never reported under that name.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.models.digit_cnn import FEATURE_DIM, cached_digit_cnn

METRIC_NAME = "domain_fid_mnist_cnn"
DISPLAY_NAME = "domain FID (mnist-cnn)"


class DigitCNNFeatures(nn.Module):
    """uint8 [N, 1, 28, 28] -> float64 [N, 128] penultimate features of the digit classifier."""

    num_features = FEATURE_DIM

    def __init__(self, cache_dir: str):
        super().__init__()
        self.classifier, self.manifest = cached_digit_cnn(cache_dir)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.shape[1:] != (1, 28, 28):
            raise HddmError(f"domain FID (mnist-cnn) needs uint8 [N, 1, 28, 28] MNIST-space images, got {images.dtype} "
                            f"{list(images.shape)}: it only applies to the embedded MNIST default")
        with torch.no_grad():
            return self.classifier.features(images.float() / 127.5 - 1).double()

    def train(self, mode: bool = True):
        return super().train(False)


def make_domain_fid(cache_dir: str) -> FrechetInceptionDistance:
    return FrechetInceptionDistance(feature=DigitCNNFeatures(cache_dir), reset_real_features=False, normalize=False)


def domain_fid_implementation(extractor: DigitCNNFeatures) -> dict:
    return {"name": METRIC_NAME, "display_name": DISPLAY_NAME, "features": "hddm.models.digit_cnn penultimate, 128-d",
            "classifier_sha256": extractor.manifest["sha256"], "quantization": "uint8",
            "statistics": "torchmetrics FrechetInceptionDistance, float64"}
