"""Domain FID: the Frechet distance of a project classifier's 128-d penultimate features, through the same
torchmetrics FrechetInceptionDistance in float64. "domain FID (mnist-cnn)" on MNIST (hddm.models.digit_cnn),
"domain FID (styled-cnn)" on styled digits (hddm.models.styled_cnn, whose features also carry the domain).

Fast enough to run during training, and sensitive to digit shape (and, styled, to style); it is not FID (no
Inception, no ImageNet features) and is never reported under that name.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.models.digit_cnn import FEATURE_DIM, cached_digit_cnn

METRIC_NAME = "domain_fid_mnist_cnn"
DISPLAY_NAME = "domain FID (mnist-cnn)"
STYLED_METRIC_NAME = "domain_fid_styled_cnn"
STYLED_DISPLAY_NAME = "domain FID (styled-cnn)"
DATASETS = ("mnist", "styled_digits")


def domain_fid_name(dataset: str) -> str:
    return STYLED_METRIC_NAME if dataset == "styled_digits" else METRIC_NAME


class ClassifierFeatures(nn.Module):
    """uint8 [N, C, 28, 28] -> float64 [N, 128] penultimate features of a project classifier."""

    num_features = FEATURE_DIM

    def __init__(self, cache_dir: str, dataset: str = "mnist"):
        super().__init__()
        if dataset not in DATASETS:
            raise HddmError(
                f"domain_fid applies to the embedded datasets {list(DATASETS)}, not data={dataset}: drop it from "
                "metrics=[...]"
            )
        if dataset == "styled_digits":
            from hddm.models.styled_cnn import shipped_styled_cnn

            self.classifier, self.manifest = shipped_styled_cnn()
        else:
            self.classifier, self.manifest = cached_digit_cnn(cache_dir)
        self.dataset, self.channels = dataset, self.classifier.conv1.in_channels
        self.display = STYLED_DISPLAY_NAME if dataset == "styled_digits" else DISPLAY_NAME

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.shape[1:] != (self.channels, 28, 28):
            data = "MNIST" if self.dataset == "mnist" else "styled-digits"
            raise HddmError(
                f"{self.display} needs uint8 [N, {self.channels}, 28, 28] {data} images, got {images.dtype} "
                f"{list(images.shape)}: it only applies to the embedded {data} data"
            )
        with torch.no_grad():
            return self.classifier.features(images.float() / 127.5 - 1).double()

    def train(self, mode: bool = True):
        return super().train(False)


def make_domain_fid(cache_dir: str, dataset: str = "mnist") -> FrechetInceptionDistance:
    return FrechetInceptionDistance(
        feature=ClassifierFeatures(cache_dir, dataset), reset_real_features=False, normalize=False
    )


def domain_fid_implementation(extractor: ClassifierFeatures) -> dict:
    module = "styled_cnn" if extractor.dataset == "styled_digits" else "digit_cnn"
    return {
        "name": domain_fid_name(extractor.dataset),
        "display_name": extractor.display,
        "features": f"hddm.models.{module} penultimate, 128-d",
        "classifier_sha256": extractor.manifest["sha256"],
        "quantization": "uint8",
        "statistics": "torchmetrics FrechetInceptionDistance, float64",
    }
