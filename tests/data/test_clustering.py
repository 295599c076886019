import numpy as np
import pytest

from hddm.data.clustering import fit_hierarchical_kmeans, nearest, normalize_rows, order_by_size
from hddm.errors import HddmError


def blobs(n_per=80, centers=6, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centers, dim)) * 4
    x = np.concatenate([m + rng.normal(size=(n_per, dim)) for m in means]).astype(np.float32)
    return x, np.repeat(np.arange(centers), n_per)


def test_same_features_same_clusters():
    x, _ = blobs()
    a = fit_hierarchical_kmeans(x, k=4, fine_k=24, seed=3)
    b = fit_hierarchical_kmeans(x, k=4, fine_k=24, seed=3)
    assert np.array_equal(a.assign(x), b.assign(x))
    assert np.array_equal(a.fine_centroids, b.fine_centroids) and np.array_equal(a.coarse_centroids, b.coarse_centroids)
    assert np.array_equal(a.fine_to_coarse, b.fine_to_coarse)


def test_two_stages_fine_groups_map_to_one_coarse_cluster_and_items_to_their_nearest_centroid():
    x, _ = blobs()
    model = fit_hierarchical_kmeans(x, k=4, fine_k=24, metric="cosine", seed=0)
    assert model.fine_centroids.shape == (24, 16) and model.coarse_centroids.shape == (4, 16)
    # cosine: unit centroids at both levels
    np.testing.assert_allclose(np.linalg.norm(model.fine_centroids, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.coarse_centroids, axis=1), 1, atol=1e-5)
    # each fine group has exactly one coarse cluster: the one nearest to its centroid; every cluster is used
    assert model.fine_to_coarse.shape == (24,) and model.fine_to_coarse.dtype == np.int64
    similarity = model.fine_centroids @ model.coarse_centroids.T
    assert np.array_equal(model.fine_to_coarse, similarity.argmax(1))
    assert set(model.fine_to_coarse.tolist()) == {0, 1, 2, 3}
    # items: nearest coarse centroid by cosine, checked by brute force
    brute = (normalize_rows(x) @ model.coarse_centroids.T).argmax(1)
    assert np.array_equal(model.assign(x), brute)
    # the fine level is a real partition of the items into 24 groups
    assert len(np.unique(model.assign_fine(x))) == 24


def test_fine_k_is_capped_by_the_number_of_items():
    x, _ = blobs(n_per=3, centers=4)
    model = fit_hierarchical_kmeans(x, k=2, fine_k=1024)
    assert model.fine_centroids.shape[0] == 12


def test_cosine_groups_scaled_copies_euclidean_does_not():
    rng = np.random.default_rng(0)
    directions = normalize_rows(rng.normal(size=(2, 8)))
    scales = np.geomspace(0.1, 10, 20)[:, None]
    x = np.concatenate([scales * directions[0], scales * directions[1]]).astype(np.float32)
    direction = np.repeat([0, 1], 20)
    cosine = fit_hierarchical_kmeans(x, k=2, fine_k=8, metric="cosine").assign(x)
    assert len({(c, d) for c, d in zip(cosine, direction)}) == 2  # clusters == directions, whatever the scale
    euclidean = fit_hierarchical_kmeans(x, k=2, fine_k=8, metric="euclidean").assign(x)
    assert len({(c, d) for c, d in zip(euclidean, direction)}) > 2  # magnitude splits them instead
    assert not np.allclose(np.linalg.norm(fit_hierarchical_kmeans(x, 2, 8, "euclidean").coarse_centroids, axis=1), 1)


def test_nearest_euclidean_matches_brute_force():
    rng = np.random.default_rng(1)
    x, c = rng.normal(size=(50, 5)), rng.normal(size=(7, 5)) * 3
    brute = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(nearest(x, c, "euclidean", chunk=8), brute)


def test_relabel_by_size_keeps_the_clustering():
    x, _ = blobs()
    model = fit_hierarchical_kmeans(x, k=4, fine_k=24)
    before = model.assign(x)
    order = order_by_size(before, 4)
    relabeled = model.relabeled(order)
    after = relabeled.assign(x)
    assert np.array_equal(after, np.argsort(order)[before])
    sizes = np.bincount(after, minlength=4)
    assert list(sizes) == sorted(sizes, reverse=True)
    assert np.array_equal(relabeled.fine_to_coarse, (relabeled.fine_centroids @ relabeled.coarse_centroids.T).argmax(1))


def test_bad_settings_are_one_line_errors():
    x, _ = blobs(n_per=2, centers=2)
    with pytest.raises(HddmError, match="cluster.k=8"):
        fit_hierarchical_kmeans(x, k=8, fine_k=1024)
    with pytest.raises(HddmError, match="cluster.metric"):
        fit_hierarchical_kmeans(x, k=2, metric="manhattan")
