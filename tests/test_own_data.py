"""README "Your own data", command by command, on a small generated labelled set: prepare, train, train_router,
evaluate and sample run as documented (only sizes and step counts shrunk), and every output the section promises
is there and says what it is."""

import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, load_script, one_error_line, run_cli
from omegaconf import OmegaConf
from test_config import register_every_schema

FAST = {  # what the test shrinks: sizes and steps, never what a command does
    "hddm.prepare": {"classifier.steps": "60"},
    "hddm.train": {
        "trainer.max_steps": "6",
        "trainer.val_check_interval": "6",
        "checkpoint.every_n_steps": "6",
        "trainer.limit_val_batches": "1",
        "sample.n": "4",
        "sample.steps": "2",
    },
    "hddm.train_router": {"trainer.max_steps": "6", "trainer.val_check_interval": "6"},
    "hddm.evaluate": {"n": "6", "steps": "2", "batch_size": "6"},  # 6 over 4 classes: two get 1 sample
}


def readme_commands() -> list[list[str]]:
    section = (REPO / "README.md").read_text().split("## Your own data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def shrunk(command: list[str]) -> list[str]:
    """The README command as `-m hddm.<name> ...` arguments, with the FAST values in place of its own."""
    assert command[:2] == [".venv/bin/python", "-m"], command
    module, args = command[2], command[3:]
    fast = dict(FAST.get(module, {}))
    kept = [arg for arg in args if arg.split("=", 1)[0] not in fast]
    return [module, *kept, *(f"{key}={value}" for key, value in fast.items())]


@pytest.fixture(scope="module")
def own_data(tmp_path_factory, cache_dir):
    """The four README commands run in a fresh folder on 400 generated images."""
    work = tmp_path_factory.mktemp("own_data")
    subprocess.run(
        [sys.executable, str(REPO / "experiments/own_data/make_shapes.py"), "shapes.npz", "--n", "400"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    outputs = {}
    for command in readme_commands():
        args = shrunk(command)
        result = run_cli(args, cwd=work, timeout=900)
        assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        outputs[args[0]] = result.stdout
    return work, outputs


def test_the_readme_has_four_commands_and_the_example_set_is_labelled(tmp_path):
    assert [command[2] for command in readme_commands()] == [
        "hddm.prepare",
        "hddm.train",
        "hddm.train_router",
        "hddm.evaluate",
    ]
    shapes = load_script(REPO / "experiments/own_data/make_shapes.py", "make_shapes").make_shapes(8, seed=1)
    assert shapes["images"].shape == (8, 28, 28, 3) and shapes["images"].dtype == np.uint8
    assert set(shapes["labels"]) <= set(range(len(shapes["class_names"])))


def test_prepare_holds_out_a_test_split_trains_the_metric_classifier_and_names_the_classes(own_data, cache_dir):
    work, outputs = own_data
    index = json.loads((cache_dir / "images" / "shapes" / "dataset.json").read_text())
    assert index["count"] == 400 and len(index["test_rows"]) == 40 and index["channels"] == 3
    assert index["class_names"] == ["square", "circle", "triangle", "cross"]
    manifest = json.loads((cache_dir / "images" / "shapes" / "metric_classifier" / "manifest.json").read_text())
    assert manifest["test_items"] == 40 and 0 <= manifest["test_accuracy"] <= 1
    assert "metric classifier of 4 classes" in outputs["hddm.prepare"]
    table = (work / "runs" / "prepare" / "shapes_kmeans2" / "clusters.md").read_text()
    assert re.search(r"(square|circle|triangle|cross): \d+%", table)  # class names, not indices
    assert "python -m hddm.train data=images data.name=shapes data.channels=3" in outputs["hddm.prepare"]


def test_training_names_runs_by_data_and_writes_the_ensemble_config(own_data):
    work, outputs = own_data
    experts = sorted(p.name for p in (work / "runs" / "experts").iterdir() if p.is_dir())
    assert experts == ["fm_shapes_kmeans2_c0_tiny_s0", "fm_shapes_kmeans2_c1_tiny_s0"]
    config = yaml.safe_load((work / "runs" / "conf" / "ensemble" / "shapes_kmeans2.yaml").read_text())
    assert config["name"] == "shapes_kmeans2"
    assert config["experts"] == [f"runs/experts/{name}/expert" for name in experts]
    assert config["router"] == "runs/routers/router_shapes_kmeans2_tiny_text-False_s0/router"
    assert (
        "ensemble shapes_kmeans2 complete: python -m hddm.evaluate ensemble=shapes_kmeans2"
        in (outputs["hddm.train_router"])
    )


def test_evaluate_scores_every_class_against_the_held_out_split_with_real_floors(own_data):
    work, _ = own_data
    results = json.loads((work / "runs" / "eval" / "shapes_kmeans2_topk_n6_s0" / "results.json").read_text())
    assert results["prompts"] == [f"a photo of a {name}" for name in ("square", "circle", "triangle", "cross")]
    metrics, details = results["metrics"], results["metric_details"]
    assert {"fid", "domain_fid_metric_classifier", "class_adherence_metric_classifier", "precision", "recall"} <= set(
        metrics
    )
    per_class = details["domain_fid_metric_classifier_per_class"]
    assert {name: v["n"] for name, v in per_class.items()} == {"square": 2, "circle": 2, "triangle": 1, "cross": 1}
    assert per_class["square"]["value"] > 0 and per_class["cross"]["value"] is None  # no covariance of 1 sample
    assert set(details["class_adherence_metric_classifier_per_class"]) == set(per_class)
    assert results["reference_stats"]["fid"]["split"] == "test" and results["reference_stats"]["fid"]["count"] == 40
    floors = results["real_floors"]
    assert {"fid", "domain_fid_metric_classifier", "precision", "recall"} <= set(floors)
    assert floors["fid"]["split"] == "trainval" and floors["fid"]["n"] == 6 and np.isfinite(floors["fid"]["value"])
    adherence = results["implementations"]["class_adherence_metric_classifier"]
    assert "stand-in for CLIP score" in adherence["note"] and 0 <= adherence["classifier_test_accuracy"] <= 1


def test_sample_draws_the_class_prompts_by_default_into_a_labelled_grid(own_data):
    work, _ = own_data
    result = run_cli(
        ["hddm.sample", "ensemble=shapes_kmeans2", "n=8", "steps=2", "hydra.run.dir=runs/samples/own"], cwd=work
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((work / "runs" / "samples" / "own" / "record.json").read_text())
    assert record["prompts"] == [f"a photo of a {name}" for name in ("square", "circle", "triangle", "cross")]
    assert (work / "runs" / "samples" / "own" / "grid.png").stat().st_size > 0


def test_errors_on_this_path_name_keys_that_exist(own_data, compose, tmp_path):
    """Each refusal names the key to fix; every key it names composes under the command that printed it."""
    work, _ = own_data
    refusals = [
        (["hddm.prepare", "data=images"], "data.name", "prepare"),
        (["hddm.prepare", "data=images", "data.name=shapes"], "source.path", "prepare"),
        (["hddm.prepare", "data=images", "data.name=other", "stages=[features]"], "data.name=", "prepare"),
        (["hddm.train", "experiment=images_expert", "data.name=shapes", "data.channels=1"], "data.channels=3", "train"),
        (
            ["hddm.train", "experiment=images_expert", "data.name=shapes", "partition.num_clusters=3"],
            "partition.path",
            "train",
        ),
        (["hddm.evaluate", "ensemble=shapes_kmeans2", "metrics=[clip]", "prompts=[a red bus]"], "prompts=", "evaluate"),
    ]
    for args, named, command in refusals:
        result = run_cli(args, cwd=work)
        one_error_line(result, named)
        line = next(line for line in result.stderr.splitlines() if line.startswith("hddm: error:"))
        keys = set(re.findall(r"(?<![\w./-])([a-z_]+(?:\.[a-z_]+)*)=", line))
        assert keys, line
        register_every_schema()
        cfg = compose(["data=images", "data.name=shapes"] if command != "evaluate" else [], config_name=command)
        for key in keys:
            assert OmegaConf.select(cfg, key, default="absent") != "absent", f"{line}: {key} is not in {command}"
