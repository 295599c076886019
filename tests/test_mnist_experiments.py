"""experiments/mnist_experiments.py: every job's overrides compose, shared jobs run once, a selection pulls in only
what it needs."""

import pytest
import yaml
from conftest import REPO, load_script
from omegaconf import DictConfig, OmegaConf

from hddm.config import to_typed, validate_router_config, validate_train_config


@pytest.fixture(scope="module")
def pool():
    return load_script(REPO / "experiments" / "mnist_experiments.py", "mnist_experiments")


def same_value(composed, given: str) -> bool:
    """Whether a composed config value is what the command line gave (numbers compared as numbers)."""
    try:
        return float(composed) == float(given)
    except (TypeError, ValueError):
        return str(composed) == str(yaml.safe_load(given))


def hydra_overrides(command):
    """The overrides a job passes to Hydra, a sweep's first value for each swept key (hydra.* settings left out)."""
    overrides = [arg for arg in command[3:] if arg != "-m" and not arg.startswith("hydra.")]
    return [arg if "[" in arg else arg.split(",")[0] for arg in overrides]


def test_every_job_composes_against_the_schema(pool, compose):
    jobs = pool.graph([0, 1], sorted(pool.EXPERIMENTS))
    entry_points = {job.command[2] for job in jobs if job.command[1] == "-m"}
    assert all("-m" not in job.command[4:] for job in jobs)  # a multirun flag after an override: Hydra refuses it
    assert entry_points == {"hddm.train", "hddm.train_router", "hddm.evaluate", "hddm.report"}
    validate = {
        "hddm.train": ("train", validate_train_config),
        "hddm.train_router": ("train_router", validate_router_config),
        "hddm.evaluate": ("evaluate", to_typed),
    }
    for job in jobs:
        if job.command[1] == "-m" and job.command[2] in validate:
            config_name, check = validate[job.command[2]]
            overrides = hydra_overrides(job.command)
            typed = OmegaConf.structured(check(compose(overrides, config_name=config_name)))
            for key, value in (
                o.split("=", 1) for o in overrides if "=" in o and "[" not in o and "/" not in o.split("=")[0]
            ):
                if OmegaConf.select(typed, key) is not None and not isinstance(
                    OmegaConf.select(typed, key), DictConfig
                ):
                    assert same_value(OmegaConf.select(typed, key), value), (job.name, key)


def test_shared_runs_are_one_job_and_every_need_is_a_job(pool):
    jobs = pool.graph([0, 1], sorted(pool.EXPERIMENTS))
    names = [job.name for job in jobs]
    assert len(names) == len(set(names)) and names.count("k8/fm8_top2_s0") == 1
    assert all(need in names for job in jobs for need in job.needs)
    assert sum(name.startswith("train/router") for name in names) == 2  # seed 0's routers serve both seeds


def test_a_selection_trains_only_what_it_needs(pool):
    names = {job.name for job in pool.graph([0, 1], ["exp35"], ["threshold/*_s0"])}
    assert {name for name in names if name.startswith("train/")} == {
        "train/fm_kmeans8_c2_tiny_s0",
        "train/ddpm_kmeans8_c2_tiny_s0",
        "train/ddpm_linear_kmeans8_c2_tiny_s0",
    }
    assert not any(name.endswith("_s1") for name in names)
