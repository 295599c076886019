"""Initialise hddm experts from a facebookresearch/DiT checkpoint (supplement Sec. 1.2, Initialization).

    python -m hddm.convert_dit source=DiT-XL-2-256x256.pt model=dit_xl2 out=inits/dit_xl2

writes <out>/model.safetensors (a complete hddm DiT state_dict) and <out>/manifest.json (format hddm.init/1).
The patch embedding, the timestep embedder and every block's self-attention and FFN are copied (hddm uses DiT's
names for them); the final linear layer keeps DiT's epsilon channels and drops the learned-variance ones. DiT's
per-block adaLN MLPs become hddm's per-block scale_shift_tables by evaluating them once, at the reference
timestep t=500 with the null class. The parts DiT lacks start as the paper says: AdaLN-Single MLP (t_block) and
text projection N(0, 0.02), cross-attention output projections zero. So, with t_block's output at zero, the
converted model reproduces DiT's unconditional epsilon at t=500, given DiT's fixed sin-cos positional embedding
(tests/test_convert_dit.py checks both). The source is read with torch.load(weights_only=True) only.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from hddm import __version__
from hddm.bundles import MANIFEST, WEIGHTS, save_bundle
from hddm.config import ModelConfig, model_size, register_configs
from hddm.errors import HddmError
from hddm.inits import INIT_FORMAT, describe, listing
from hddm.io import sha256_file
from hddm.jobs import hydra_command
from hddm.models.dit import DiT, DiTConfig, TimestepEmbedder

REFERENCE_TIMESTEP = 500
FREQUENCY_SIZE = 256  # sinusoidal features fed to the timestep MLP, in DiT and in hddm alike
BLOCK_TRANSFERS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")


def transferred_keys(depth: int) -> list[str]:
    """The hddm keys copied verbatim from DiT: same names, same shapes, same meaning."""
    modules = ["x_embedder.proj", "t_embedder.mlp.0", "t_embedder.mlp.2"]
    modules += [f"blocks.{i}.{part}" for i in range(depth) for part in BLOCK_TRANSFERS]
    return [f"{module}.{suffix}" for module in modules for suffix in ("weight", "bias")]


def dit_source_shapes(size: DiTConfig, in_channels: int, num_classes: int) -> dict[str, tuple]:
    """Key -> shape of a facebookresearch/DiT state_dict of this size (learn_sigma, class dropout > 0).

    None stands for pos_embed's token count: it depends on the source's image size, which does not matter
    because pos_embed is not loaded.
    """
    h, p, out = size.hidden_size, size.patch_size, 2 * in_channels  # learn_sigma: epsilon and variance
    mlp = int(h * size.mlp_ratio)
    shapes = {
        "pos_embed": (1, None, h),
        "x_embedder.proj.weight": (h, in_channels, p, p),
        "x_embedder.proj.bias": (h,),
        "t_embedder.mlp.0.weight": (h, FREQUENCY_SIZE),
        "t_embedder.mlp.0.bias": (h,),
        "t_embedder.mlp.2.weight": (h, h),
        "t_embedder.mlp.2.bias": (h,),
        "y_embedder.embedding_table.weight": (num_classes + 1, h),  # the extra row is the null class
    }
    for i in range(size.depth):
        shapes.update(
            {
                f"blocks.{i}.attn.qkv.weight": (3 * h, h),
                f"blocks.{i}.attn.qkv.bias": (3 * h,),
                f"blocks.{i}.attn.proj.weight": (h, h),
                f"blocks.{i}.attn.proj.bias": (h,),
                f"blocks.{i}.mlp.fc1.weight": (mlp, h),
                f"blocks.{i}.mlp.fc1.bias": (mlp,),
                f"blocks.{i}.mlp.fc2.weight": (h, mlp),
                f"blocks.{i}.mlp.fc2.bias": (h,),
                f"blocks.{i}.adaLN_modulation.1.weight": (6 * h, h),
                f"blocks.{i}.adaLN_modulation.1.bias": (6 * h,),
            }
        )
    shapes.update(
        {
            "final_layer.linear.weight": (p * p * out, h),
            "final_layer.linear.bias": (p * p * out,),
            "final_layer.adaLN_modulation.1.weight": (2 * h, h),
            "final_layer.adaLN_modulation.1.bias": (2 * h,),
        }
    )
    return shapes


def check_source_state(state: dict, size: DiTConfig, in_channels: int, num_classes: int) -> None:
    """Refuse, in one line, anything but a DiT state_dict of this size: a silent partial load trains garbage."""
    expected = dit_source_shapes(size, in_channels, num_classes)
    unexpected = [key for key in state if key not in expected]
    missing = [key for key in expected if key not in state]
    if unexpected or missing:
        problems = ([f"has unexpected keys {listing(unexpected)}"] if unexpected else []) + (
            [f"lacks {listing(missing)}"] if missing else []
        )
        raise HddmError(
            f"source checkpoint {' and '.join(problems)}: is it a facebookresearch/DiT checkpoint of "
            f"{describe(asdict(size))}? (set model= to its size)"
        )
    not_tensors = [key for key, value in state.items() if not torch.is_tensor(value)]
    if not_tensors:
        raise HddmError(f"source checkpoint entries {listing(not_tensors)} are not tensors: pass a DiT state_dict")

    def fits(shape, wanted):
        return len(shape) == len(wanted) and all(w is None or s == w for s, w in zip(shape, wanted))

    wrong = [
        f"{key} {list(state[key].shape)} (expected {list(shape)})"
        for key, shape in expected.items()
        if not fits(tuple(state[key].shape), shape)
    ]
    if wrong:
        raise HddmError(
            f"source checkpoint shapes differ from a learn_sigma DiT of {describe(asdict(size))} with "
            f"in_channels={in_channels}, num_classes={num_classes}: {listing(wrong)}; "
            f"set model=, in_channels= or num_classes= to match the checkpoint"
        )


def initial_hddm_model(size: DiTConfig, in_channels: int, image_size: int, text_dim: int, seed: int) -> DiT:
    """A seeded hddm DiT with the paper's init for the parts DiT lacks, leaving the global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DiT(size, in_channels, image_size, text_dim)
        for layer in (model.t_block[1], model.y_embedder.fc1, model.y_embedder.fc2):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
    for block in model.blocks:  # text has no effect at init; cross_attn.q/kv keep hddm's default
        nn.init.zeros_(block.cross_attn.proj.weight)
        nn.init.zeros_(block.cross_attn.proj.bias)
    return model


def reference_conditioning(source: dict, hidden_size: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(t_emb, c) at the reference timestep, in float64.

    t_emb is computed by hddm's own TimestepEmbedder loaded with DiT's weights, i.e. exactly what the converted
    model computes at run time; c = t_emb + the null class embedding is DiT's unconditional conditioning.
    """
    embedder = TimestepEmbedder(hidden_size, FREQUENCY_SIZE).double()
    embedder.mlp.load_state_dict(
        {
            key.removeprefix("t_embedder.mlp."): value
            for key, value in source.items()
            if key.startswith("t_embedder.mlp.")
        }
    )
    t_emb = embedder(torch.tensor([float(REFERENCE_TIMESTEP)]))[0]
    return t_emb, t_emb + source["y_embedder.embedding_table.weight"][num_classes].double()


def dit_modulation(source: dict, prefix: str, c: torch.Tensor, rows: int) -> torch.Tensor:
    """DiT's adaLN_modulation = Sequential(SiLU, Linear) at c, as [rows, hidden]: row k is DiT's chunk k."""
    weight = source[f"{prefix}.adaLN_modulation.1.weight"].double()
    bias = source[f"{prefix}.adaLN_modulation.1.bias"].double()
    return F.linear(F.silu(c), weight, bias).view(rows, -1)


def epsilon_outputs(out_features: int, in_channels: int) -> torch.Tensor:
    """Mask of DiT's final-layer outputs that predict epsilon.

    DiT lays each patch's features out as (p, q, 2C) with the channel fastest; channels [0, C) are epsilon and
    [C, 2C) the learned variance, so feature f is epsilon iff f % 2C < C. What remains is (p, q, C), the layout
    hddm's unpatchify reads.
    """
    return torch.arange(out_features) % (2 * in_channels) < in_channels


@torch.no_grad()
def convert_dit_state_dict(
    source_state: dict,
    size: DiTConfig,
    in_channels: int,
    image_size: int,
    text_dim: int,
    seed: int,
    num_classes: int = 1000,
) -> dict[str, torch.Tensor]:
    """A complete float32 hddm DiT state_dict initialised from a facebookresearch/DiT state_dict.

    Transferred float32 tensors are shared with source_state rather than copied: DiT-XL/2 is 2.7 GB.
    """
    check_source_state(source_state, size, in_channels, num_classes)
    state = dict(initial_hddm_model(size, in_channels, image_size, text_dim, seed).state_dict())
    for key in transferred_keys(size.depth):
        state[key] = source_state[key].float()
    keep = epsilon_outputs(source_state["final_layer.linear.bias"].shape[0], in_channels)
    for suffix in ("weight", "bias"):
        state[f"final_layer.linear.{suffix}"] = source_state[f"final_layer.linear.{suffix}"][keep].float()

    t_emb, c = reference_conditioning(source_state, size.hidden_size, num_classes)
    for i in range(size.depth):
        # hddm block: (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) = table + t_block(t_emb),
        # DiT block: the same six = adaLN_modulation(c).chunk(6). With t_block's output at zero, table =
        # adaLN_modulation(c at t=500) makes them equal; the global t_block then learns the timestep dependence.
        state[f"blocks.{i}.scale_shift_table"] = dit_modulation(source_state, f"blocks.{i}", c, 6).float()
    # hddm final layer: (shift, scale) = table + t_emb(t), the raw timestep embedding added to both rows (no MLP);
    # DiT's: (shift, scale) = adaLN_modulation(c). So table = adaLN_modulation(c at t=500) - t_emb(500) makes them
    # equal at t=500, whatever t_block holds; at other t hddm's final modulation moves by t_emb(t) - t_emb(500).
    state["final_layer.scale_shift_table"] = (dit_modulation(source_state, "final_layer", c, 2) - t_emb).float()
    return state


def load_dit_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in a facebookresearch/DiT .pt, read with torch.load(weights_only=True) and nothing else.

    Released DiT checkpoints are plain state_dicts. DiT's train.py saves {"model", "ema", "opt", "args"}, where
    args is an argparse.Namespace: it is allow-listed (plain attributes, no code); the EMA weights win, as in
    DiT's sample.py. Any other object makes weights_only refuse the file, which is the point.
    """
    path = Path(path)
    if not path.is_file():
        raise HddmError(
            f"source checkpoint {path} does not exist: set source=<a facebookresearch/DiT .pt, "
            f"e.g. DiT-XL-2-256x256.pt>"
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise HddmError(
            f"{path} is not a weights-only torch checkpoint ({type(error).__name__}): hddm reads tensors "
            f"and never unpickles other objects; save the state_dict alone with torch.save"
        ) from None
    if isinstance(checkpoint, dict):
        checkpoint = checkpoint.get("ema", checkpoint.get("model", checkpoint))
    if not isinstance(checkpoint, dict):
        raise HddmError(
            f"{path} holds a {type(checkpoint).__name__}, not a state_dict: pass a facebookresearch/DiT checkpoint"
        )
    return checkpoint


def init_manifest(
    source_path: str | Path,
    model_name: str,
    size: DiTConfig,
    in_channels: int,
    image_size: int,
    text_dim: int,
    num_classes: int,
    seed: int,
) -> dict:
    """Everything needed to trust and reuse the init without this code: provenance, sizes, and what came from where."""
    return {
        "source": {
            "kind": "facebookresearch/DiT",
            "file": Path(source_path).name,
            "sha256": sha256_file(source_path),
            "num_classes": num_classes,
        },
        "model": {"name": model_name, **asdict(size)},
        "in_channels": in_channels,
        "image_size": image_size,
        "text_dim": text_dim,
        "reference_timestep": REFERENCE_TIMESTEP,
        "timestep_input": "the transferred t_embedder keeps DiT's scale: DDPM experts feed t_model in [0, 999], "
        "Flow Matching experts t_model = 999 t for t in [0, 1] (hddm's objective time_scale)",
        "transferred": [
            "x_embedder.proj",
            "t_embedder.mlp",
            *(f"blocks.*.{part}" for part in BLOCK_TRANSFERS),
            "final_layer.linear (epsilon channels only, learned-variance channels dropped)",
        ],
        "reparameterised": {
            "blocks.*.scale_shift_table": "DiT blocks.*.adaLN_modulation(c), "
            "c = t_embedder(500) + null class embedding",
            "final_layer.scale_shift_table": "DiT final_layer.adaLN_modulation(c) - t_embedder(500), "
            "as hddm's final layer adds the raw t_emb",
        },
        "initialised": {
            "t_block": "N(0, 0.02), bias 0",
            "y_embedder": "N(0, 0.02), biases 0",
            "blocks.*.cross_attn.proj": "zero (text has no effect at init)",
            "blocks.*.cross_attn.q, blocks.*.cross_attn.kv": "hddm default (xavier uniform, bias 0)",
        },
        "not_loaded": {
            "y_embedder.embedding_table": "class embedding (hddm conditions on text)",
            "pos_embed": "hddm computes fixed 2-D sine-cosine embeddings",
        },
        "seed": seed,
        "hddm_version": __version__,
    }


def save_init(directory: str | Path, state_dict: dict[str, torch.Tensor], manifest: dict) -> Path:
    return save_bundle(directory, state_dict, manifest, INIT_FORMAT)


def config_int(cfg: DictConfig, key: str, minimum: int) -> int:
    value = cfg[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise HddmError(f"{key}={value!r} must be an integer >= {minimum}")
    return value


def convert(cfg: DictConfig) -> Path:
    for key, hint in (("source", "a facebookresearch/DiT .pt, e.g. DiT-XL-2-256x256.pt"), ("out", "an output folder")):
        if OmegaConf.is_missing(cfg, key):
            raise HddmError(f"{key} is not set: add {key}=<{hint}>")
    model_name = str(cfg.model.name)
    size = model_size(ModelConfig(**OmegaConf.to_container(cfg.model, resolve=True)))
    settings = {key: config_int(cfg, key, 1) for key in ("in_channels", "image_size", "text_dim", "num_classes")}
    seed = config_int(cfg, "seed", 0)
    source = Path(str(cfg.source))
    state = convert_dit_state_dict(
        load_dit_checkpoint(source),
        size,
        settings["in_channels"],
        settings["image_size"],
        settings["text_dim"],
        seed,
        num_classes=settings["num_classes"],
    )
    directory = save_init(str(cfg.out), state, init_manifest(source, model_name, size, **settings, seed=seed))
    print(
        f"hddm: converted {source.name} into a {model_name} init\n  weights:  {directory / WEIGHTS}\n"
        f"  manifest: {directory / MANIFEST}"
    )
    return directory


register_configs()
main = hydra_command("convert_dit", lambda cfg, _: convert(cfg), None, bookkeeping=False)


if __name__ == "__main__":
    main()
