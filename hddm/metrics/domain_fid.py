"""Domain FID: the Frechet distance of a project classifier's 128-d penultimate features, through the same
torchmetrics FrechetInceptionDistance in float64. "domain FID (mnist-cnn)" on MNIST (hddm.models.digit_cnn),
"domain FID (styled-cnn)" on styled digits (hddm.models.styled_cnn, whose features also carry the domain),
"domain FID (metric classifier)" on a labelled data=images set (hddm.models.metric_classifier, trained by prepare).

Fast enough to run during training, and sensitive to digit shape (and, styled, to style); it is not FID (no
Inception, no ImageNet features) and is never reported under that name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.models.digit_cnn import FEATURE_DIM, cached_digit_cnn

METRIC_NAME = "domain_fid_mnist_cnn"
DISPLAY_NAME = "domain FID (mnist-cnn)"
STYLED_METRIC_NAME = "domain_fid_styled_cnn"
STYLED_DISPLAY_NAME = "domain FID (styled-cnn)"
IMAGE_SET_METRIC_NAME = "domain_fid_metric_classifier"
IMAGE_SET_DISPLAY_NAME = "domain FID (metric classifier)"
DATASETS = ("mnist", "styled_digits")


def domain_fid_name(dataset: str, image_set: str | None = None) -> str:
    if image_set is not None:
        return IMAGE_SET_METRIC_NAME
    return STYLED_METRIC_NAME if dataset == "styled_digits" else METRIC_NAME


class ClassifierFeatures(nn.Module):
    """uint8 [N, C, H, W] -> float64 [N, 128] penultimate features of a project classifier, or of the metric
    classifier of a prepared image set (image_set: its folder)."""

    num_features = FEATURE_DIM

    def __init__(self, cache_dir: str, dataset: str = "mnist", image_set: str | None = None):
        super().__init__()
        if image_set is not None:
            from hddm.models.metric_classifier import FOLDER, load_metric_classifier

            self.classifier, self.manifest = load_metric_classifier(Path(image_set) / FOLDER)
            self.dataset, self.channels = dataset, self.manifest["in_channels"]
            self.size, self.display = self.manifest["image_size"], IMAGE_SET_DISPLAY_NAME
            return
        if dataset not in DATASETS:
            raise HddmError(
                f"domain_fid and precision_recall read a classifier of the data: data={dataset} has none (prepare "
                "a labelled data=images set, which trains one), so drop them from metrics=[...]"
            )
        self.size = 28
        if dataset == "styled_digits":
            from hddm.models.styled_cnn import shipped_styled_cnn

            self.classifier, self.manifest = shipped_styled_cnn()
        else:
            self.classifier, self.manifest = cached_digit_cnn(cache_dir)
        self.dataset, self.channels = dataset, self.classifier.conv1.in_channels
        self.display = STYLED_DISPLAY_NAME if dataset == "styled_digits" else DISPLAY_NAME

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shape = (self.channels, self.size, self.size)
        if images.dtype != torch.uint8 or images.shape[1:] != shape:
            raise HddmError(
                f"{self.display} needs uint8 [N, {', '.join(map(str, shape))}] images of data={self.dataset}, got "
                f"{images.dtype} {list(images.shape)}: it only applies to the data its classifier was trained on"
            )
        with torch.no_grad():
            return self.classifier.features(images.float() / 127.5 - 1).double()

    def train(self, mode: bool = True):
        return super().train(False)


def make_domain_fid(cache_dir: str, dataset: str = "mnist", image_set: str | None = None) -> FrechetInceptionDistance:
    return FrechetInceptionDistance(
        feature=ClassifierFeatures(cache_dir, dataset, image_set), reset_real_features=False, normalize=False
    )


def domain_fid_implementation(extractor: ClassifierFeatures) -> dict:
    if extractor.display == IMAGE_SET_DISPLAY_NAME:
        module = "metric_classifier"
    else:
        module = "styled_cnn" if extractor.dataset == "styled_digits" else "digit_cnn"
    return {
        "name": IMAGE_SET_METRIC_NAME if module == "metric_classifier" else domain_fid_name(extractor.dataset),
        "display_name": extractor.display,
        "features": f"hddm.models.{module} penultimate, 128-d",
        "classifier_sha256": extractor.manifest["sha256"],
        "quantization": "uint8",
        "statistics": "torchmetrics FrechetInceptionDistance, float64",
    }
