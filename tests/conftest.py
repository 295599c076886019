import os
import sys
from pathlib import Path

import pytest

# Before anything imports a hub client: no test may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One MNIST array file and text cache for the whole session, never the user's own cache."""
    path = tmp_path_factory.mktemp("hddm_cache")
    os.environ["HDDM_CACHE"] = str(path)
    return path


def save_tiny_vae(folder):
    """A diffusers AutoencoderKL with the SD layout (4 levels, 8x down, 4 latent channels) and tiny widths."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
    ).save_pretrained(folder)
    return folder


@pytest.fixture
def compose(cache_dir):
    """compose(overrides) -> the train config, exactly as `python -m hddm.train <overrides>` would see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from hddm.config import register_configs

    register_configs()

    def _compose(overrides=(), config_name="train", return_hydra_config=False):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return hydra_compose(
                config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
            )

    return _compose


def run_cli(args, cwd, env_extra=None, timeout=600):
    """Run `python -m hddm.<args>` in a subprocess with the test environment."""
    import subprocess

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


QUICK = [  # a few steps of the smallest training: what the pipeline tests need, not what trains a model
    "trainer.max_steps=3",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=1",
    "data.batch_size=16",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


@pytest.fixture(scope="session")
def members(tmp_path_factory, cache_dir):
    """The toy ensemble on MNIST: an FM expert of cluster 0, a DDPM expert of cluster 1 (4 clusters), their router."""
    from hydra import compose, initialize_config_dir

    from hddm.config import register_configs
    from hddm.train import train
    from hddm.train_router import train_router

    register_configs()
    root = tmp_path_factory.mktemp("members")
    quick = [*QUICK, "partition.num_clusters=4"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for objective, cluster in (("fm", 0), ("ddpm", 1)):
            overrides = [f"objective={objective}", f"cluster={cluster}", "sample.n=2", "sample.steps=1", *quick]
            train(compose("train", overrides), root / f"{objective}{cluster}")
        train_router(compose("train_router", quick), root / "router")
    return root


def snapshot(folder):
    """{path: bytes} of every file under folder: what a refused launch must leave byte-identical."""
    return {path: path.read_bytes() for path in Path(folder).rglob("*") if path.is_file()}


def sample_quickly(run_dir, experts, *overrides):
    """`hddm.sample` of two tiny samples from the given expert bundles (threshold routing: no router needed)."""
    return run_cli(
        [
            "hddm.sample",
            f"ensemble.experts=[{','.join(str(e) for e in experts)}]",
            "routing=threshold",
            "n=2",
            "steps=2",
            "prompt=x",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=CONF.parent,
        env_extra={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )


def one_error_line(result, match):
    """Exactly one `hddm: error:` line containing match, exit code 2, no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("hddm: error:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(errors) == 1 and match in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr


def load_script(path, name):
    """A script under experiments/ as a module (registered, so its dataclasses resolve)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
