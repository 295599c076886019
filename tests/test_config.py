"""Every config group option and every experiment composes and validates against the schema."""

import re

import pytest
from conftest import CONF

from hddm.config import validate_train_config
from hddm.errors import HddmError
from hddm.models.dit import DIT_SIZES

GROUPS = ["objective", "schedule", "model", "text", "data", "partition", "trainer", "logger"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))] + [
    ("model", name)
    for name in DIT_SIZES  # registered from the size registry, no file per size
]
EXPERIMENTS = sorted(path.stem for path in (CONF / "experiment").glob("*.yaml"))
NEEDS = {
    "latents": ["data.shard_dir=/tmp/shards"],
    "real_scale_xl": ["data.shard_dir=/tmp/shards"],
    "images": ["data.name=shapes"],
    "images_expert": ["data.name=shapes"],
}


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_group_option_composes(compose, group, option):
    cfg = compose([f"{group}={option}", *NEEDS.get(option, [])])
    validate_train_config(cfg)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(compose, experiment):
    validate_train_config(compose([f"experiment={experiment}", *NEEDS.get(experiment, [])]))


def test_objective_brings_its_own_schedule_unless_overridden(compose):
    assert compose(["objective=ddpm"]).schedule.name == "cosine"
    assert compose(["objective=fm"]).schedule.name == "linear"
    assert compose(["objective=ddpm", "schedule=linear"]).schedule.name == "linear"


def test_a_prediction_other_than_the_objectives_own_is_refused(compose):
    with pytest.raises(
        HddmError, match=r"objective.prediction=velocity is not what objective=ddpm predicts \(epsilon\)"
    ):
        validate_train_config(compose(["objective=ddpm", "objective.prediction=velocity"]))


def test_cluster_selects_the_run(compose):
    cfg = compose(["objective=ddpm", "cluster=3"])
    assert cfg.cluster == 3 and cfg.run_name == "ddpm_mnist_digits10_c3_tiny_s0"


def test_bad_values_are_one_line_errors(compose):
    with pytest.raises(HddmError, match="shard_dir"):
        validate_train_config(compose(["data=latents"]))
    with pytest.raises(Exception, match="unknown_key"):
        compose(["optim.unknown_key=1"])  # the schema refuses keys it does not know


def test_train_head_config_names_its_run_after_the_expert(compose):
    from hddm.config import HeadTrainConfig, to_typed

    cfg = compose(["expert=runs/experts/fm_styled_digits_kmeans8_c3_tiny_s0/expert"], config_name="train_head")
    typed: HeadTrainConfig = to_typed(cfg)
    assert typed.run_name == "head_fm_styled_digits_kmeans8_c3_tiny_s0"
    assert (
        typed.reference.domains == ["plain"] and typed.data.name == "styled_digits" and typed.kinds == ["blind", "text"]
    )


def test_router_of_some_clusters_is_checked(compose):
    from hddm.config import validate_router_config

    cfg = compose(["partition.num_clusters=4", "clusters=[0,2]"], config_name="train_router")
    assert validate_router_config(cfg).clusters == [0, 2]
    with pytest.raises(HddmError, match="clusters="):
        validate_router_config(compose(["partition.num_clusters=4", "clusters=[0,4]"], config_name="train_router"))


def register_every_schema():
    """The schemas the commands register when imported: prepare's and analyze's besides hddm.config's."""
    import hddm.analyze  # noqa: F401
    from hddm.prepare_config import register_prepare_configs

    register_prepare_configs()


# every option with a fixed set of values (hddm.choices), per command: refused while composing, in one line
CHOICES = [
    ("train", "sample.solver", "euler, heun"),
    ("train", "data.space", "pixel, latent"),
    ("train", "partition.method", "label_mod_k, file"),
    ("train_router", "data.space", "pixel, latent"),
    ("sample", "solver", "euler, heun, ddim, ancestral"),
    ("sample", "routing.strategy", "top1, topk, full, threshold, random_topk"),
    ("sample", "routing.router", "trained, density_ratio, centroid, oracle"),
    ("sample", "routing.order", "fm_first, ddpm_first, listed"),
    ("sample", "conversion.mode", "paper, snr_matched"),
    ("sample", "moe.mode", "dynamic, gamma, topk"),
    ("sample", "vae.precision", "float32, bfloat16"),
    ("evaluate", "routing.strategy", "top1, topk, full, threshold, random_topk"),
    ("analyze", "analysis.feature_metric", "cosine, euclidean"),  # analysis=cluster_rank, the default
    ("analyze", "analysis=switching analysis.switching_strategy", "top1, top2"),
    ("prepare", "cluster.metric", "auto, cosine, euclidean"),
    ("prepare", "cluster.algorithm", "auto, kmeans, minibatch"),
    ("prepare", "precision", "auto, float32, bfloat16"),
    ("train", "model.moe", "dense, diffmoe, tc, ec"),
    ("prepare", "features.name", "auto, dinov2, mnist_cnn, pixels, colour_quantiles"),
    ("prepare", "features.dtype", "float32, float16, bfloat16"),
    ("prepare", "vae.dtype", "float32, float16, bfloat16"),
    ("train", "objective.name", "ddpm, fm"),
    ("train", "objective.prediction", "epsilon, velocity"),
    ("train", "schedule.name", "cosine, linear"),
    ("train", "text.name", "minilm, clip"),
    ("train", "objective.default_schedule", "cosine, linear"),
]


@pytest.mark.parametrize("config_name,key,choices", CHOICES)
def test_unknown_choices_are_refused_at_composition_in_one_line(compose, config_name, key, choices):
    from hydra.errors import HydraException

    from hddm.jobs import composition_error

    register_every_schema()
    *selected, key = key.split()
    with pytest.raises(HydraException) as error:
        compose([*selected, f"{key}=bogus"], config_name=config_name)
    assert composition_error(error.value) == (f"{key}=bogus is not an option: choose one of {choices} ({key}=<option>)")


ROOT_GROUPS = {  # the config groups of the other commands, each option composed under its command
    "sample": ["ensemble", "routing", "conversion"],
    "evaluate": ["ensemble", "routing", "conversion"],
    "analyze": ["ensemble", "routing", "conversion", "analysis"],
    "train_router": ["model", "text", "data", "partition", "trainer", "logger"],
    "prepare": ["data", "text"],
}
ROOT_OPTIONS = [
    (root, group, path.stem)
    for root, groups in ROOT_GROUPS.items()
    for group in groups
    for path in sorted((CONF / group).glob("*.yaml"))
]


@pytest.mark.parametrize("config_name,group,option", ROOT_OPTIONS)
def test_every_option_composes_under_every_command(compose, config_name, group, option):
    from omegaconf import OmegaConf

    register_every_schema()
    cfg = compose([f"{group}={option}"], config_name=config_name)
    assert OmegaConf.select(cfg, group) is not None


@pytest.mark.parametrize("option", [path.stem for path in sorted((CONF / "metrics").glob("*.yaml"))])
def test_every_metric_composes_under_evaluate(compose, option):
    cfg = compose([f"metrics=[{option}]"], config_name="evaluate")
    assert cfg.metrics[option] is not None


def test_every_model_field_can_be_overridden(compose):
    from hddm.config import model_size

    typed = validate_train_config(compose(["model=dit_s2", "model.depth=2", "model.num_heads=4"]))
    assert (
        typed.model.name == "dit_s2" and model_size(typed.model).depth == 2 and model_size(typed.model).num_heads == 4
    )
    assert model_size(typed.model).hidden_size == DIT_SIZES["dit_s2"].hidden_size
    with pytest.raises(HddmError, match="multiple of num_heads"):
        validate_train_config(compose(["model=tiny", "model.num_heads=3"]))


@pytest.mark.parametrize(
    "config_name,override,key",
    [
        ("sample", "n=-5", "n"),
        ("sample", "batch_size=0", "batch_size"),
        ("sample", "steps=0", "steps"),
        ("sample", "routing.tau=1.5", "routing.tau"),
        ("sample", "conversion.safeguards.alpha_min=-1", "conversion.safeguards.alpha_min"),
        ("evaluate", "n=0", "n"),
        ("train", "ema.decay=1.5", "ema.decay"),
        ("train", "optim.lr=-1", "optim.lr"),
        ("train", "trainer.max_steps=abc", "trainer.max_steps"),
        ("train_router", "partition.num_clusters=0", "partition.num_clusters"),
    ],
)
def test_out_of_range_numbers_are_one_line_errors_naming_the_key_and_its_range(compose, config_name, override, key):
    from hddm.config import to_typed

    overrides = [override, "ensemble.experts=[a]", "prompt=x"] if config_name in ("sample", "evaluate") else [override]
    with pytest.raises(HddmError, match=rf"^{re.escape(key)}=.* is out of range: {re.escape(key)} must be "):
        to_typed(compose(overrides, config_name=config_name))


def test_every_range_names_an_option_of_some_command(compose):
    from omegaconf import OmegaConf

    import hddm.analyze  # noqa: F401  (registers the analyze schema)
    from hddm.config import RANGES

    roots = [
        compose([], config_name="train"),
        compose([], config_name="train_router"),
        compose(["ensemble.experts=[a]", "prompt=x"], config_name="sample"),
        compose(["ensemble.experts=[a]", "prompt=x"], config_name="analyze"),
    ]
    missing = [key for key in RANGES if all(OmegaConf.select(r, key, default="absent") == "absent" for r in roots)]
    assert not missing
