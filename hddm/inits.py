"""Initialising an expert's network: from an init bundle (format hddm.init/1: hddm.convert_dit's conversion of a
facebookresearch/DiT checkpoint, or an exported hddm network), or from the shipped pretrained base (`init=base`),
as the papers start every expert from one pretrained ImageNet DiT checkpoint.

The base is a tiny text-conditioned Flow Matching DiT trained on plain MNIST digits in RGB (white ink on black), a
domain that no styled-digits cluster holds (recipe, and why this objective and domain: experiments/base_model/). It
ships in
hddm/assets/base_dit/ as an init bundle (format hddm.init/1, float16 weights, sha256 pinned here), so every machine
starts from the same weights.

    # the recipe's last step:
    python -m hddm.inits export runs/base/<run>/expert hddm/assets/base_dit --trained-on "..."
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from hddm import __version__
from hddm.bundles import load_bundle, load_expert_bundle, save_bundle
from hddm.errors import HddmError
from hddm.io import sha256_file
from hddm.models.dit import DiT
from hddm.models.upcycle import upcycle_state

BASE_DIR = Path(__file__).resolve().parent / "assets" / "base_dit"
BASE_SHA256 = "1eef2f231fc535852d3816c3d8927a98660f117f92acb6284a3f18c2fea83aef"
INIT_FORMAT = "hddm.init/1"
BASE_NAME = "base"  # the value of `init=` that selects the shipped base
DENSE_FIELDS = ("hidden_size", "depth", "num_heads", "patch_size", "mlp_ratio")
LISTED = 6  # offending keys an error message names before "(+N more)", to stay one readable line


def listing(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return f"[{shown}{f', ... (+{len(items) - LISTED} more)' if len(items) > LISTED else ''}]"


def describe(size: dict) -> str:
    return f"hidden {size['hidden_size']}, depth {size['depth']}, {size['num_heads']} heads, patch {size['patch_size']}"


def shipped_base() -> Path:
    """The shipped base's folder, after checking its weights against the pinned sha256."""
    weights = BASE_DIR / "model.safetensors"
    if not weights.is_file() or sha256_file(weights) != BASE_SHA256:
        raise HddmError(
            f"the shipped base in {BASE_DIR} is missing or fails its checksum: restore it from git "
            "(git checkout hddm/assets/base_dit) or reinstall hddm"
        )
    return BASE_DIR


def init_folder(init: str) -> Path:
    """`init=base` is the shipped base; anything else an init folder (hddm.convert_dit or an exported base)."""
    return shipped_base() if init == BASE_NAME else Path(init).expanduser()


def load_init(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state_dict, manifest) of an init bundle, after checking its format and the weights' sha256."""
    return load_bundle(directory, INIT_FORMAT)


def dense_of(size: dict) -> dict:
    return {key: size.get(key) for key in DENSE_FIELDS}


def upcycles(model: DiT, manifest: dict) -> bool:
    """A dense init for an MoE model of the same dense size: its FFNs become the experts (hddm/models/upcycle.py)."""
    init_size = manifest.get("model", {})
    return bool(model.size.moe) and not init_size.get("moe") and dense_of(init_size) == dense_of(asdict(model.size))


def check_upcycling(model: DiT, manifest: dict, directory: Path) -> None:
    if upcycles(model, manifest) and model.size.moe != "tc":
        raise HddmError(
            f"{directory} is dense and can only be upcycled into token-choice MoE layers, not {model.size.moe!r}: "
            "set model.moe=tc, or give an init made for this model"
        )


def check_init_fits(model: DiT, manifest: dict, directory: Path) -> None:
    init_size = manifest.get("model", {})
    if not upcycles(model, manifest) and {key: init_size.get(key) for key in asdict(model.size)} != asdict(model.size):
        raise HddmError(
            f"{directory} was made for model {init_size.get('name')!r}, but this model has "
            f"{describe(asdict(model.size))}: set model={init_size.get('name')} or convert again with this size"
        )
    if manifest.get("in_channels") != model.in_channels:
        raise HddmError(
            f"{directory} was made for {manifest.get('in_channels')} input channels, but the data has "
            f"{model.in_channels}: use matching data or convert again with in_channels={model.in_channels}"
        )
    text_dim = model.y_embedder.fc1.in_features
    if manifest.get("text_dim") != text_dim:
        raise HddmError(
            f"{directory} was made for text_dim {manifest.get('text_dim')}, but the text encoder gives "
            f"{text_dim}: choose a matching text encoder or convert again with text_dim={text_dim}"
        )


def apply_init(model: DiT, init: str | Path) -> dict:
    """Load an init (a folder, or `base`) into model in place and return its manifest; a one-line HddmError on any
    mismatch. A dense init of an MoE model's dense size is upcycled. The image size is not checked: no weight depends
    on it (positional embeddings are computed)."""
    directory = init_folder(str(init))
    state, manifest = load_init(directory)
    check_init_fits(model, manifest, directory)
    check_upcycling(model, manifest, directory)
    if upcycles(model, manifest):
        state = upcycle_state(state, model)
    wanted = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    differing = sorted(key for key in wanted.keys() | found.keys() if wanted.get(key) != found.get(key))
    if differing:
        raise HddmError(
            f"{directory} does not fit this model ({listing(differing)} differ in name or shape): "
            f"convert again with this model's settings"
        )
    model.load_state_dict(state)  # copies into the model's own dtype (the base ships float16)
    return manifest


def export_base(expert_dir: str | Path, out_dir: str | Path, trained_on: str) -> Path:
    """An expert bundle's EMA network as a float16 init bundle with the provenance a user needs to trust it."""
    state, manifest = load_expert_bundle(expert_dir)
    network = {name.removeprefix("model."): value.half() for name, value in state.items() if name.startswith("model.")}
    data = manifest["data"]
    init_manifest = {
        "source": {
            "kind": "hddm expert",
            "sha256": manifest["weights_sha256"],
            "objective": manifest["objective"],
            "prediction": manifest["prediction"],
            "schedule": manifest["schedule"],
            "steps": manifest.get("steps"),
            "data": data["name"],
            "partition": manifest["partition"]["name"],
            "seed": manifest["seed"],
            "recipe": "experiments/base_model/run.sh",
        },
        "trained_on": trained_on,
        "model": manifest["model"],
        "in_channels": data["channels"],
        "image_size": data["image_size"],
        "text_dim": manifest["text_dim"],
        "text_encoder": manifest["text_encoder"],
        "time_scale": manifest["time_scale"],
        "storage_dtype": "float16",
        "hddm_version": __version__,
    }
    return save_bundle(out_dir, network, init_manifest, INIT_FORMAT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hddm.inits")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write an expert bundle's network as an init bundle")
    export.add_argument("expert_dir")
    export.add_argument("out_dir")
    export.add_argument(
        "--trained-on", required=True, help="what the network was trained on, in words (for the manifest)"
    )
    args = parser.parse_args(argv)
    try:
        out = export_base(args.expert_dir, args.out_dir, args.trained_on)
    except HddmError as error:
        print(f"hddm: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"hddm: base exported to {out} (weights sha256 {sha256_file(out / 'model.safetensors')})")


if __name__ == "__main__":
    main()
