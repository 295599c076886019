"""Expert bundles: weights in safetensors plus a JSON manifest, for contributors who never coordinate.

The manifest says everything needed to use the weights without the code that trained them (objective,
prediction type, schedule, time scaling, cluster, data space and shape, text encoder, model size) and the
sha256 of the weights file, checked on load. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from hddm.errors import HddmError
from hddm.io import atomic_write, sha256_file, write_json

EXPERT_FORMAT = "hddm.expert/1"
WEIGHTS, MANIFEST = "model.safetensors", "manifest.json"


def save_expert_bundle(directory: str | Path, state_dict: dict[str, torch.Tensor], manifest: dict) -> Path:
    directory = Path(directory)
    tensors = {name: value.detach().cpu().contiguous() for name, value in state_dict.items()}
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(tensors, str(tmp)))
    write_json(directory / MANIFEST, {**manifest, "format": EXPERT_FORMAT, "weights_sha256": sha256_file(directory / WEIGHTS)})
    return directory


def load_expert_bundle(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    directory = Path(directory)
    if not (directory / MANIFEST).is_file() or not (directory / WEIGHTS).is_file():
        raise HddmError(f"{directory} is not an expert bundle ({MANIFEST} + {WEIGHTS}): point at a folder hddm.train exported")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except json.JSONDecodeError as error:
        raise HddmError(f"{directory / MANIFEST} is not valid JSON ({error}): re-export the bundle") from None
    if manifest.get("format") != EXPERT_FORMAT:
        raise HddmError(f"{directory} has format {manifest.get('format')!r}, expected {EXPERT_FORMAT!r}: re-export it")
    if sha256_file(directory / WEIGHTS) != manifest.get("weights_sha256"):
        raise HddmError(f"{directory / WEIGHTS} does not match the sha256 in its manifest: the bundle was altered, re-export it")
    return load_file(str(directory / WEIGHTS)), manifest
