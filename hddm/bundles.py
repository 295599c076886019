"""Bundles on disk: weights in safetensors plus a JSON manifest carrying their sha256, checked on every load.

Formats: an expert (hddm.expert/1), a router (hddm.router/1), and the routing information an expert's contributor
trained alone (hddm.routing/1, in the expert bundle's routing/ folder). Nothing is ever unpickled. What the
manifests mean, and how an ensemble's members are checked against each other, is hddm.ensemble.members.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json

EXPERT_FORMAT, ROUTER_FORMAT, ROUTING_FORMAT = "hddm.expert/1", "hddm.router/1", "hddm.routing/1"
ROUTING_DIR = "routing"  # inside an expert bundle: the routing information its contributor trained alone
WEIGHTS, MANIFEST = "model.safetensors", "manifest.json"


def save_bundle(directory: str | Path, state_dict: dict[str, torch.Tensor], manifest: dict, fmt: str) -> Path:
    directory = Path(directory)
    tensors = {name: value.detach().cpu().contiguous() for name, value in state_dict.items()}
    save_safetensors(directory / WEIGHTS, tensors)
    write_json(directory / MANIFEST, {**manifest, "format": fmt, "weights_sha256": sha256_file(directory / WEIGHTS)})
    return directory


def load_bundle(directory: str | Path, fmt: str) -> tuple[dict[str, torch.Tensor], dict]:
    directory = Path(directory)
    if not (directory / MANIFEST).is_file() or not (directory / WEIGHTS).is_file():
        raise HddmError(f"{directory} is not a bundle ({MANIFEST} + {WEIGHTS}): point at a folder hddm exported")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except json.JSONDecodeError as error:
        raise HddmError(f"{directory / MANIFEST} is not valid JSON ({error}): re-export the bundle") from None
    if manifest.get("format") != fmt:
        raise HddmError(f"{directory} has format {manifest.get('format')!r}, expected {fmt!r}: check the path")
    if sha256_file(directory / WEIGHTS) != manifest.get("weights_sha256"):
        raise HddmError(
            f"{directory / WEIGHTS} does not match the sha256 in its manifest: the bundle was altered, re-export it"
        )
    return load_file(str(directory / WEIGHTS)), manifest


def save_expert_bundle(directory, state_dict, manifest) -> Path:
    return save_bundle(directory, state_dict, manifest, EXPERT_FORMAT)


def load_expert_bundle(directory) -> tuple[dict[str, torch.Tensor], dict]:
    return load_bundle(directory, EXPERT_FORMAT)
