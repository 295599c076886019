"""The `make demo` pipeline on styled digits at toy scale: label-free clustering into domain clusters, a DDPM and a
Flow Matching expert fine-tuned from the shipped base, the papers' router, routed Top-2 samples with adherence."""

import json

import pytest
import torch
from conftest import CONF
from conftest import QUICK as SHARED_QUICK

from hddm.inits import BASE_DIR
from hddm.io import sha256_file

QUICK = [*SHARED_QUICK, "partition.num_clusters=2"]


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
    summary = prepare(
        compose_in("prepare", ["data=styled_digits", "cluster.k=2", "cluster.fine_k=16"]), root / "clusters"
    )
    for objective, cluster in (("fm", 0), ("ddpm", 1)):
        train(
            compose_in(
                "train",
                [
                    "experiment=styled_demo_expert",
                    f"objective={objective}",
                    f"cluster={cluster}",
                    "sample.n=2",
                    "sample.steps=1",
                    *QUICK,
                ],
            ),
            root / f"{objective}{cluster}",
        )
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
    record = sample(
        compose_in(
            "sample",
            [
                f"ensemble.experts={experts}",
                f"ensemble.router={root / 'router' / 'router'}",
                "routing=top2",
                "n=4",
                "steps=2",
                f"prompts_file={CONF.parent / 'experiments' / 'demo' / 'prompts.txt'}",
                "grid_columns=2",
            ],
        ),
        tmp_path,
    )
    images = torch.load(tmp_path / "samples.pt", weights_only=True)
    assert images.shape == (4, 3, 28, 28) and torch.isfinite(images).all()
    adherence = record["metrics"]["prompt_adherence"]
    assert adherence["n"] == 4 and 0 <= adherence["digit_adherence_styled_cnn"] <= 1
    assert adherence["classifier"]["name"] == "styled-cnn"


@pytest.fixture(scope="module")
def contributed(demo, compose_in):
    """Each expert's routing information, trained alone on its own cluster; the experts' files before and after."""
    from hddm.train_head import train_head

    root, _ = demo
    before = {
        run: {name: sha256_file(root / run / "expert" / name) for name in ("manifest.json", "model.safetensors")}
        for run in ("fm0", "ddpm1")
    }
    results = {
        run: train_head(
            compose_in("train_head", [f"expert={root / run / 'expert'}", "centroids=2", *QUICK]), root / f"head_{run}"
        )
        for run in ("fm0", "ddpm1")
    }
    return root, before, results


def test_routing_information_joins_the_bundle_without_changing_the_expert(contributed):
    root, before, results = contributed
    for run, hashes in before.items():
        assert {name: sha256_file(root / run / "expert" / name) for name in hashes} == hashes
        manifest = json.loads((root / run / "expert" / "routing" / "manifest.json").read_text())
        assert (
            manifest["expert_weights_sha256"]
            == json.loads((root / run / "expert" / "manifest.json").read_text())["weights_sha256"]
        )
        assert set(manifest["heads"]) == {"blind", "text"} and manifest["centroids"]["count"] == 2
        assert manifest["reference"]["domains"] == ["plain"] and manifest["num_samples"] > 0
        assert set(results[run]["accuracy_by_t"]) == {"n", "blind", "text"}


@pytest.mark.parametrize(
    "routing",
    [
        ["routing.router=density_ratio"],
        ["routing.router=density_ratio", "routing.text_aware=true"],
        ["routing.router=centroid", "routing.centroid_every=2"],
    ],
)
def test_decentralized_routing_samples_without_a_router(contributed, tmp_path, compose_in, routing):
    from hddm.sample import sample

    root, _, _ = contributed
    experts = f"[{root / 'fm0' / 'expert'},{root / 'ddpm1' / 'expert'}]"
    record = sample(
        compose_in(
            "sample",
            [
                f"ensemble.experts={experts}",
                "routing=top2",
                *routing,
                "n=4",
                "steps=3",
                "prompt=a handwritten digit three",
            ],
        ),
        tmp_path,
    )
    assert torch.isfinite(torch.load(tmp_path / "samples.pt", weights_only=True)).all()
    assert record["router"] is None and 0 < record["usage"]["routing_share_of_time"] < 1
    assert sum(record["usage"]["mean_weight"].values()) == pytest.approx(1.0, abs=1e-3)


def test_routing_information_of_other_weights_or_missing_is_refused(contributed, tmp_path, compose_in):
    import shutil

    from hddm.errors import HddmError
    from hddm.sample import sample

    root, _, _ = contributed
    impostor = tmp_path / "impostor"
    shutil.copytree(root / "fm0" / "expert", impostor)
    shutil.rmtree(impostor / "routing")
    shutil.copytree(root / "ddpm1" / "expert" / "routing", impostor / "routing")
    bare = tmp_path / "bare"
    shutil.copytree(root / "fm0" / "expert", bare, ignore=shutil.ignore_patterns("routing"))
    for member, message in ((impostor, "trained for other expert weights"), (bare, "carries no routing information")):
        with pytest.raises(HddmError, match=message):
            sample(
                compose_in(
                    "sample",
                    [
                        f"ensemble.experts=[{member},{root / 'ddpm1' / 'expert'}]",
                        "routing=top2",
                        "routing.router=density_ratio",
                        "n=2",
                        "steps=1",
                        "prompt=a digit",
                    ],
                ),
                tmp_path / "out",
            )


def test_oracle_routing_sends_every_step_to_the_expert_of_the_prompts_domain(demo, tmp_path, compose_in, cache_dir):
    import numpy as np

    from hddm.data.partition import load_partition
    from hddm.data.styled_digits import domain_prompt, load_styled
    from hddm.errors import HddmError
    from hddm.sample import sample

    root, _ = demo
    styled = load_styled(cache_dir, "trainval")
    assignment = load_partition(f"{cache_dir}/partitions/styled_digits_kmeans2.safetensors").assignment.numpy()
    names = {0: "c0_fm", 1: "c1_ddpm"}
    experts = f"[{root / 'fm0' / 'expert'},{root / 'ddpm1' / 'expert'}]"

    def routed(prompt, name):
        overrides = [f"ensemble.experts={experts}", "routing=top1", "routing.router=oracle", "n=3", "steps=2"]
        return sample(compose_in("sample", [*overrides, f"prompt='{prompt}'"]), tmp_path / name)

    for d in (0, 5):
        cluster = int(np.bincount(assignment[styled.domains == d]).argmax())
        record = routed(domain_prompt(3, styled.domain_names[d]), f"domain{d}")
        assert record["usage"]["share_of_steps"] == {names[cluster]: 1.0, names[1 - cluster]: 0.0}
    with pytest.raises(HddmError, match="names no domain"):
        routed("a handwritten digit three", "plain")
