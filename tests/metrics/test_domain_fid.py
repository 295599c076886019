"""Domain FID (mnist-cnn): the torchmetrics Frechet distance on the digit classifier's 128-d features."""

import pytest
import torch

from hddm.data import mnist
from hddm.metrics.domain_fid import DISPLAY_NAME, METRIC_NAME, make_domain_fid
from hddm.metrics.fid import to_uint8


@pytest.fixture(scope="module")
def halves(cache_dir):
    images, _ = mnist.load_split(cache_dir, "test")
    images = torch.from_numpy(images)[:, None]
    return images[:2000], images[5000:7000]


def domain_fid(real, fake, cache_dir):
    metric = make_domain_fid(str(cache_dir))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return metric.compute()


def test_is_named_domain_fid_never_fid():
    assert "domain" in METRIC_NAME and "mnist-cnn" in DISPLAY_NAME and METRIC_NAME != "fid"


def test_itself_zero_halves_small_noise_large_in_float64(halves, cache_dir):
    first, second = halves
    itself = domain_fid(first, first, cache_dir)
    assert itself.dtype == torch.float64 and abs(float(itself)) < 1e-6
    between_halves = float(domain_fid(first, second, cache_dir))
    noise = to_uint8(torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    against_noise = float(domain_fid(first, noise, cache_dir))
    assert between_halves < 0.05 * against_noise, (between_halves, against_noise)


def test_refuses_images_outside_mnist_space(cache_dir):
    from hddm.errors import HddmError

    with pytest.raises(HddmError, match=r"needs uint8 \[N, 1, 28, 28\] images of data=mnist"):
        make_domain_fid(str(cache_dir)).update(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), real=False)
