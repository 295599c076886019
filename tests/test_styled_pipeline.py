"""The `make demo` pipeline on styled digits at toy scale: label-free clustering into domain clusters, a DDPM and a
Flow Matching expert fine-tuned from the shipped base, the papers' router, routed Top-2 samples with adherence."""

import json

import pytest
import torch

from conftest import CONF
from hddm.inits import BASE_DIR
from hddm.io import sha256_file

QUICK = ["trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.limit_val_batches=1", "data.batch_size=16",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "partition.num_clusters=2"]


@pytest.fixture(scope="module")
def compose_in(cache_dir):
    from hydra import compose, initialize_config_dir

    from hddm.config import register_configs
    from hddm.prepare_config import register_prepare_configs

    register_configs()
    register_prepare_configs()

    def _compose(name, overrides):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(name, overrides)

    return _compose


@pytest.fixture(scope="module")
def demo(tmp_path_factory, compose_in):
    from hddm.prepare import prepare
    from hddm.train import train
    from hddm.train_router import train_router

    root = tmp_path_factory.mktemp("styled")
    summary = prepare(compose_in("prepare", ["data=styled_digits", "cluster.k=2", "cluster.fine_k=16"]), root / "clusters")
    for objective, cluster in (("fm", 0), ("ddpm", 1)):
        train(compose_in("train", ["experiment=styled_demo_expert", f"objective={objective}", f"cluster={cluster}",
                                   "sample.n=2", "sample.steps=1", *QUICK]), root / f"{objective}{cluster}")
    train_router(compose_in("train_router", ["data=styled_digits", "partition=file", *QUICK]), root / "router")
    return root, summary


def test_clusters_are_label_free_and_report_both_purities(demo):
    _, summary = demo
    assert summary["features"].startswith("colour-quantiles") and summary["metric"] == "euclidean"
    assert set(summary["purity"]) == {"domain", "digit"} and summary["purity"]["digit"] < 0.3


def test_experts_start_from_the_base_for_both_objectives(demo):
    root, _ = demo
    base = sha256_file(BASE_DIR / "model.safetensors")
    for run in ("fm0", "ddpm1"):
        manifest = json.loads((root / run / "expert" / "manifest.json").read_text())
        assert manifest["init"]["weights_sha256"] == base and manifest["data"]["channels"] == 3


def test_routed_top2_samples_with_adherence(demo, tmp_path, compose_in):
    from hddm.sample import sample

    root, _ = demo
    experts = f"[{root / 'fm0' / 'expert'},{root / 'ddpm1' / 'expert'}]"
    record = sample(compose_in("sample", [f"ensemble.experts={experts}", f"ensemble.router={root / 'router' / 'router'}",
                                          "routing=top2", "n=4", "steps=2", f"prompts_file={CONF.parent / 'experiments' / 'demo' / 'prompts.txt'}",
                                          "grid_columns=2"]), tmp_path)
    images = torch.load(tmp_path / "samples.pt", weights_only=True)
    assert images.shape == (4, 3, 28, 28) and torch.isfinite(images).all()
    adherence = record["metrics"]["prompt_adherence"]
    assert adherence["n"] == 4 and 0 <= adherence["digit_adherence_styled_cnn"] <= 1
    assert adherence["classifier"]["name"] == "styled-cnn"
