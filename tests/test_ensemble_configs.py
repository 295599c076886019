"""Finished training jobs add up to an ensemble config: the newest expert per cluster, the router, one partition."""

import yaml

from hddm.ensemble_configs import record_bundle


def manifest(cluster=None, sha="a" * 64):
    record = {"data": {"name": "shapes"}, "partition": {"name": "kmeans2", "sha256": sha, "num_clusters": 2}}
    return record if cluster is None else {**record, "cluster": cluster}


def test_the_config_appears_once_every_cluster_has_an_expert(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "runs" / "conf" / "ensemble" / "shapes_kmeans2.yaml"
    line = record_bundle(tmp_path / "runs/experts/fm_c0/expert", manifest(0))
    assert "1 of 2 clusters trained (next: cluster=1)" in line and not config.exists()
    record_bundle(tmp_path / "runs/routers/router/router", manifest())
    record_bundle(tmp_path / "runs/experts/ddpm_c1/expert", manifest(1))
    line = record_bundle(tmp_path / "runs/experts/fm_c1/expert", manifest(1))  # the newest of cluster 1 wins
    assert line.endswith("python -m hddm.evaluate ensemble=shapes_kmeans2")
    written = yaml.safe_load(config.read_text())
    assert written == {
        "name": "shapes_kmeans2",
        "experts": ["runs/experts/fm_c0/expert", "runs/experts/fm_c1/expert"],
        "router": "runs/routers/router/router",
    }


def test_a_reclustered_partition_starts_afresh_and_other_folders_are_not_recorded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record_bundle(tmp_path / "runs/experts/old_c0/expert", manifest(0))
    record_bundle(tmp_path / "runs/experts/old_c1/expert", manifest(1))
    line = record_bundle(tmp_path / "runs/experts/new_c0/expert", manifest(0, sha="b" * 64))
    assert "1 of 2 clusters trained" in line  # the old cluster 1 expert belongs to another partition
    assert "not recorded" in record_bundle(tmp_path / "elsewhere/run/expert", manifest(1, sha="b" * 64))
    assert not (tmp_path / "conf").exists()
