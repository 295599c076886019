"""Reference statistics: computed once per split and extractor, cached with a hash, held by global rank 0 only."""

import torch

from hddm.metrics.domain_fid import METRIC_NAME, make_domain_fid
from hddm.metrics.reference_stats import load_reference, reference_images

IMPLEMENTATION = {"name": METRIC_NAME, "test": True}


def test_cached_once_and_equal_to_direct_computation(cache_dir, tmp_path):
    images, source = reference_images("mnist", "test", str(cache_dir), 500)
    assert source["count"] == 500 and len(source["split_sha256"]) == 64
    first = load_reference(make_domain_fid(str(cache_dir)), METRIC_NAME, IMPLEMENTATION, images, source, str(tmp_path))
    metric = make_domain_fid(str(cache_dir))
    again = load_reference(metric, METRIC_NAME, IMPLEMENTATION, images, source, str(tmp_path))
    assert first["computed_now"] and not again["computed_now"] and first["sha256"] == again["sha256"]

    fake = images[:200].flip(-1)
    metric.update(fake, real=False)
    direct = make_domain_fid(str(cache_dir))
    direct.update(images, real=True)
    direct.update(fake, real=False)
    assert torch.allclose(metric.compute(), direct.compute(), rtol=1e-9)
    metric.reset()  # generated statistics go, the reference stays
    assert int(metric.real_features_num_samples) == 500 and int(metric.fake_features_num_samples) == 0


def test_another_subset_has_another_hash_and_other_ranks_hold_nothing(cache_dir, tmp_path):
    images, source = reference_images("mnist", "test", str(cache_dir), 300)
    same_again = reference_images("mnist", "test", str(cache_dir), 300)[0]
    assert torch.equal(images, same_again)  # the subset is fixed
    small = load_reference(make_domain_fid(str(cache_dir)), METRIC_NAME, IMPLEMENTATION, images, source, str(tmp_path))
    other = make_domain_fid(str(cache_dir))
    images_400, source_400 = reference_images("mnist", "test", str(cache_dir), 400)
    larger = load_reference(other, METRIC_NAME, IMPLEMENTATION, images_400, source_400, str(tmp_path), global_rank=1)
    assert small["sha256"] != larger["sha256"]
    assert int(other.real_features_num_samples) == 0 and float(other.real_features_sum.abs().sum()) == 0


def test_unknown_dataset_is_one_line_error(cache_dir):
    import pytest

    from hddm.errors import HddmError

    with pytest.raises(HddmError, match="set metrics.fid.reference_path="):
        reference_images("latents", "test", str(cache_dir))


def test_reference_labels_keep_only_those_digits_and_change_the_key(cache_dir):
    import pytest

    from hddm.data.mnist import load_split
    from hddm.errors import HddmError
    from hddm.metrics.reference_stats import stats_key

    _, labels = load_split(str(cache_dir), "test")
    threes, source = reference_images("mnist", "test", str(cache_dir), labels=[3])
    assert source["count"] == int((labels == 3).sum()) == len(threes) and source["labels"] == [3]
    subset, subset_source = reference_images("mnist", "test", str(cache_dir), 100, labels=[3, 8])
    assert len(subset) == 100 and subset_source["labels"] == [3, 8]
    everything = reference_images("mnist", "test", str(cache_dir), 100)[1]
    assert "labels" not in everything  # all digits: the key of statistics cached before this option stays valid
    assert stats_key(METRIC_NAME, IMPLEMENTATION, source) != stats_key(METRIC_NAME, IMPLEMENTATION, everything)
    with pytest.raises(HddmError, match=r"labels are \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]"):
        reference_images("mnist", "test", str(cache_dir), labels=[12])


def test_computing_prints_progress_with_an_estimate_and_reading_the_cache_prints_nothing(cache_dir, tmp_path, capsys):
    import re

    images, source = reference_images("mnist", "test", str(cache_dir), 300)
    load_reference(make_domain_fid(str(cache_dir)), METRIC_NAME, IMPLEMENTATION, images, source, str(tmp_path), 100)
    lines = capsys.readouterr().out.splitlines()
    task = f"hddm: {METRIC_NAME} reference statistics"
    assert re.fullmatch(rf"{task}: 100/300 images \(33%\), \d+s elapsed, about \d+s left", lines[0])
    assert re.fullmatch(rf"{task}: 300/300 images \(100%\), \d+s elapsed, done", lines[-1]) and len(lines) == 3
    load_reference(make_domain_fid(str(cache_dir)), METRIC_NAME, IMPLEMENTATION, images, source, str(tmp_path), 100)
    assert capsys.readouterr().out == ""
