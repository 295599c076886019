"""experiments/styled_experiments/run.py: every job's command composes against its command's schema with the values
it gives, every need is a job, and paired rows of the report share their prompts."""

import sys

import pytest
from conftest import REPO, load_script
from omegaconf import DictConfig, OmegaConf
from test_mnist_experiments import hydra_overrides, same_value

from hddm.config import to_typed, validate_router_config, validate_train_config

HERE = REPO / "experiments" / "styled_experiments"


@pytest.fixture(scope="module")
def styled():
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    return load_script(HERE / "run.py", "styled_run")


@pytest.mark.parametrize("scale", ["cpu", "gpu"])
def test_every_job_composes_with_the_values_it_gives(styled, compose, scale):
    import hddm.analyze  # noqa: F401  (registers the analyze schema)

    jobs = styled.graph(styled.SCALES[scale], ["*"])
    names = {job.name for job in jobs}
    assert all(need in names for job in jobs for need in job.needs)
    validate = {
        "hddm.train": ("train", validate_train_config),
        "hddm.train_router": ("train_router", validate_router_config),
        "hddm.sample": ("sample", to_typed),
        "hddm.analyze": ("analyze", to_typed),
    }
    for job in jobs:
        entry = job.command[job.command.index("-m") + 1]
        config_name, check = validate[entry]
        overrides = hydra_overrides([*job.command[:3], *(a for a in job.command[3:] if a != "-m")])
        typed = OmegaConf.structured(check(compose(overrides, config_name=config_name)))
        for key, value in (o.split("=", 1) for o in overrides if "=" in o and "[" not in o):
            found = OmegaConf.select(typed, key)
            if found is not None and not isinstance(found, DictConfig) and "/" not in key:
                assert same_value(found, value), (job.name, key, found, value)


def test_rows_of_a_comparison_are_paired(styled):
    """Rows compared in a claim draw the same prompts with the same seeds (the bootstrap's pairs)."""
    sys.path[:0] = [str(HERE)]
    from claims import CLAIMS, EXPERIMENTS

    for claim in CLAIMS:
        rows = EXPERIMENTS[claim.experiment].rows
        assert claim.a in rows and claim.b in rows, claim
    jobs = {job.name: job for job in styled.graph(styled.SCALES["cpu"], ["sample/*"])}
    prompts = {
        name: [a for a in job.command if a.startswith(("prompts_file=", "n=", "seed="))] for name, job in jobs.items()
    }
    assert prompts["sample/top2_s0_r0"] == prompts["sample/monolithic_s0_r0"] == prompts["sample/oracle_s0_r0"]
    assert prompts["sample/lone_ddim_s1_r1"] == prompts["sample/lone_euler_s1_r1"]
