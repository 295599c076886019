"""EnsembleEvaluator and `python -m hddm.evaluate`: exact-N sharding, per-seed determinism, recorded results;
the metric callbacks of expert and router training (the members here are trained with them)."""

import csv
import json

import pytest
import torch
from conftest import QUICK as SHARED_QUICK

from hddm.ensemble.factory import sample_noise
from hddm.lit.evaluator import DIVERSITY, MAIN, plan_batches, shard

BUDGET = ["every_n_steps=1", "n=4", "steps=1", "reference_max_items=200"]
QUICK = [*SHARED_QUICK, "partition.num_clusters=4"]


@pytest.mark.parametrize("n,batch_size,prompts,per_prompt", [(10, 3, 0, 0), (7, 7, 5, 2), (1, 4, 3, 3), (9, 2, 4, 3)])
def test_shards_partition_the_plan_for_any_number_of_processes(n, batch_size, prompts, per_prompt):
    batches = plan_batches(n, batch_size, prompts, per_prompt)
    for world_size in (1, 2, 3, 4):
        shards = [shard(batches, rank, world_size) for rank in range(world_size)]
        drawn = sorted(i for part in shards for b in part for i in range(b.start, b.stop))
        assert drawn == list(range(n + prompts * per_prompt))  # every sample exactly once, no padding
        assert sum(b.stop - b.start for part in shards for b in part if b.kind == MAIN) == n
    for b in batches:
        if b.kind == DIVERSITY:
            assert (b.start - n) % per_prompt == 0 and (b.stop - b.start) % per_prompt == 0  # whole prompt groups


def test_noise_depends_on_the_sample_not_the_batch():
    whole = sample_noise(0, 6, (1, 4, 4), seed=3)
    assert torch.equal(torch.cat([sample_noise(0, 2, (1, 4, 4), 3), sample_noise(2, 6, (1, 4, 4), 3)]), whole)
    assert not torch.equal(sample_noise(0, 6, (1, 4, 4), seed=4), whole)


@pytest.fixture(scope="module")
def members(tmp_path_factory, cache_dir):
    """Two experts and a router, trained with the metric callbacks on (every step, tiny budget)."""
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    from hddm.config import register_configs
    from hddm.train import train
    from hddm.train_router import train_router

    register_configs()
    root = tmp_path_factory.mktemp("evaluator")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for objective, cluster in (("fm", 0), ("ddpm", 1)):
            train(
                compose(
                    "train",
                    [
                        f"objective={objective}",
                        f"cluster={cluster}",
                        "sample.n=1",
                        "sample.steps=1",
                        *QUICK,
                        "+callbacks=expert_metrics",
                        *[f"callbacks.expert_metrics.{x}" for x in BUDGET],
                    ],
                ),
                root / f"{objective}{cluster}",
            )
        experts = f"[{root / 'fm0' / 'expert'},{root / 'ddpm1' / 'expert'}]"
        train_router(
            compose(
                "train_router",
                [
                    *QUICK,
                    "+callbacks=router_metrics",
                    f"callbacks.router_metrics.experts={experts}",
                    *[f"callbacks.router_metrics.{x}" for x in BUDGET],
                ],
            ),
            root / "router",
        )
    return root


def logged_columns(run_dir):
    rows = list(csv.DictReader(open(next(run_dir.glob("logs/*/metrics.csv")))))
    return {key for row in rows for key, value in row.items() if value}


def test_metric_callbacks_are_off_by_default(compose):
    assert compose(["cluster=0"]).callbacks == {}
    assert compose([], config_name="train_router").callbacks == {}


def test_metric_callbacks_log_scores_and_grids_during_training(members):
    for run in ("fm0", "ddpm1", "router"):
        assert {"samples/domain_fid_mnist_cnn", "samples/prompt_adherence_mnist_cnn"} <= logged_columns(members / run)
        assert sorted(p.name for p in (members / run / "sample_metrics").glob("*.png")) == [
            f"step{step:07d}.png"
            for step in (1, 2, 3)  # every step of QUICK's three
        ]


def evaluate_config(members, *overrides):
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    experts = f"[{members / 'fm0' / 'expert'},{members / 'ddpm1' / 'expert'}]"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "evaluate",
            [
                f"ensemble.experts={experts}",
                f"ensemble.router={members / 'router' / 'router'}",
                "n=5",
                "steps=2",
                "batch_size=2",
                "metrics=[domain_fid,clip,diversity]",
                "metrics.domain_fid.reference_max_items=200",
                "metrics.diversity.prompts=3",
                "metrics.diversity.images_per_prompt=2",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
        )


def test_images_do_not_depend_on_the_number_of_processes(members):
    from hddm.config import to_typed
    from hddm.lit.evaluator import EnsembleEvaluator

    evaluator = EnsembleEvaluator(to_typed(evaluate_config(members, "routing=random_top2")))
    evaluator.prepare()
    alone = {b: evaluator.generate(b) for b in evaluator.batches}
    for rank in range(2):  # what rank `rank` of 2 processes draws equals the single process's images
        for b in shard(evaluator.batches, rank, 2):
            assert torch.equal(evaluator.generate(b), alone[b])
    assert sum(len(images) for images in alone.values()) == 5 + 3 * 2


def test_sample_and_evaluate_draw_the_same_images(members, tmp_path):
    """One sampling path: the same seed, prompts and settings give hddm.sample and hddm.evaluate the same tensors."""
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    from hddm.config import to_typed
    from hddm.lit.evaluator import EnsembleEvaluator
    from hddm.sample import sample

    shared = ["prompts=[a handwritten digit one,a handwritten digit two]", "cfg_scale=3", "seed=5"]
    evaluator = EnsembleEvaluator(to_typed(evaluate_config(members, *shared)))
    evaluator.prepare()
    with torch.no_grad():  # as Lightning's test loop runs it
        evaluated = torch.cat([evaluator.generate(b).cpu() for b in evaluator.batches if b.kind == MAIN])
    experts = f"[{members / 'fm0' / 'expert'},{members / 'ddpm1' / 'expert'}]"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "sample",
            [
                f"ensemble.experts={experts}",
                f"ensemble.router={members / 'router' / 'router'}",
                "n=5",
                "steps=2",
                "batch_size=2",
                *shared,
            ],
        )
    sample(cfg, tmp_path)
    sampled = torch.load(tmp_path / "samples.pt", weights_only=True)
    assert sampled.shape == evaluated.shape and torch.equal(sampled, evaluated)


def test_evaluate_writes_results_with_everything_recorded(members, tmp_path):
    from hddm.evaluate import evaluate

    record = evaluate(evaluate_config(members), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["samples"] == {"n": 5, "diversity": 6, "world_size": 1}
    metrics = saved["metrics"]
    adherence = "prompt_adherence_mnist_cnn"
    assert set(metrics) == {
        "domain_fid_mnist_cnn",
        adherence,
        f"{adherence}_low",
        f"{adherence}_high",
        "diversity_dssim_standin",
    }
    assert 0 <= metrics[f"{adherence}_low"] <= metrics[adherence] <= metrics[f"{adherence}_high"] <= 1  # Wilson, n = 5
    assert set(saved["metric_details"]["prompt_adherence_mnist_cnn_per_digit"]) == {"0", "1", "2", "3", "4"}  # prompted
    assert "fid" not in metrics and metrics["domain_fid_mnist_cnn"] > 0
    assert 0 <= metrics["prompt_adherence_mnist_cnn"] <= 1 and metrics["diversity_dssim_standin"]["prompts"] == 3
    assert len(saved["reference_stats"]["domain_fid_mnist_cnn"]["sha256"]) == 64
    assert saved["sampler"]["steps"] == 2 and saved["routing"]["strategy"] == "topk" and saved["seeds"]["sampling"] == 0
    assert all(len(e["weights_sha256"]) == 64 for e in saved["experts"]) and saved["router"]["weights_sha256"]
    assert set(saved["implementations"]) == {"domain_fid_mnist_cnn", "prompt_adherence_mnist_cnn", "diversity"}
    line = (tmp_path / "results.md").read_text().splitlines()[-1]
    assert (
        line.startswith("| demo | topk k=2 | euler | 2 |")
        and saved["reference_stats"]["domain_fid_mnist_cnn"]["sha256"][:12] in line
    )
    low, high = metrics[f"{adherence}_low"], metrics[f"{adherence}_high"]
    assert f"{adherence} {metrics[adherence]:.4g} [{low:.4g}, {high:.4g}]" in line and f"{adherence}_low" not in line
    again = evaluate(evaluate_config(members), tmp_path / "again")
    assert again["metrics"] == record["metrics"]  # deterministic per seed


def test_ddim_solver_evaluates_a_lone_ddpm_expert(members):
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    from hddm.config import to_typed
    from hddm.diffusion.conversion import Conversion
    from hddm.ensemble.factory import sample_noise
    from hddm.ensemble.guidance import sample_expert
    from hddm.lit.data import prompt_embeddings
    from hddm.lit.evaluator import EnsembleEvaluator

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "evaluate",
            [
                f"ensemble.experts=[{members / 'ddpm1' / 'expert'}]",
                "solver=ddim",
                "routing=top1",
                "n=2",
                "steps=2",
                "batch_size=2",
                "metrics=[clip]",
            ],
        )
    evaluator = EnsembleEvaluator(to_typed(cfg))
    evaluator.prepare()
    batch = evaluator.batches[0]
    images = evaluator.generate(batch)
    tokens, mask = prompt_embeddings(evaluator.prompts_of(batch), evaluator.text, evaluator.cfg.cache_dir)
    direct = sample_expert(
        evaluator.experts[0], tokens, mask, sample_noise(0, 2, (1, 28, 28), 0), 2, 3.0, "ddim", Conversion()
    )
    assert images.shape == (2, 1, 28, 28) and torch.equal(images, direct)  # the expert's own DDIM, unrouted
    assert evaluator.usage.summary(["c1_ddpm"])["share_of_steps"] == {"c1_ddpm": 1.0}


def test_no_metric_and_bad_prompts_are_one_line_errors(members):
    from hddm.config import MetricsConfig, to_typed
    from hddm.errors import HddmError
    from hddm.lit.evaluator import EnsembleEvaluator

    nothing = to_typed(evaluate_config(members))
    nothing.metrics = MetricsConfig()
    with pytest.raises(HddmError, match="no metric"):
        EnsembleEvaluator(nothing)
    evaluator = EnsembleEvaluator(to_typed(evaluate_config(members, "prompts=[a cat]", "metrics.diversity.prompts=0")))
    evaluator.prepare()
    with pytest.raises(HddmError, match="name a digit"):
        evaluator.test_step(evaluator.batches[0], 0)


def test_the_default_metric_set_leaves_out_what_the_data_cannot_support(members, tmp_path):
    """Unlabelled data of the user's own: domain FID and precision/recall have no classifier, CLIP no offline weights;
    the default set leaves them out, says so and records it, while a chosen set still stops on them."""
    import shutil
    from dataclasses import replace

    from hddm.config import ClipMetricConfig, MetricsConfig, ReferenceMetricConfig, to_typed
    from hddm.errors import HddmError
    from hddm.lit.evaluator import EnsembleEvaluator

    expert = shutil.copytree(members / "fm0" / "expert", tmp_path / "expert")
    manifest = json.loads((expert / "manifest.json").read_text())
    manifest["data"]["name"] = "unlabelled_photos"
    (expert / "manifest.json").write_text(json.dumps(manifest))
    cfg = to_typed(evaluate_config(members))
    cfg.ensemble.experts, cfg.prompts = [str(expert)], ["a photo of a cat"]
    cfg.metrics = replace(MetricsConfig(), fid=ReferenceMetricConfig(), domain_fid=ReferenceMetricConfig())
    cfg.metrics.clip = ClipMetricConfig()
    evaluator = EnsembleEvaluator(cfg, default_metrics=True)
    assert set(evaluator.skipped) == {"domain_fid", "clip"} and "no classifier" in evaluator.skipped["domain_fid"]
    assert "metrics.clip.model" in evaluator.skipped["clip"]
    assert set(evaluator.metrics) == {"fid"}
    with pytest.raises(HddmError, match="drop them from metrics"):
        EnsembleEvaluator(cfg)
