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
