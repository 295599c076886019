"""Bundles on disk: weights in safetensors plus a JSON manifest carrying their sha256 and a digest of the whole
manifest (bundle_sha256), both checked on every load, so no field that decides the maths can be edited unnoticed.

Formats: an expert (hddm.expert/1), a router (hddm.router/1), and the routing information an expert's contributor
trained alone (hddm.routing/1, in the expert bundle's routing/ folder). Nothing is ever unpickled. What the
manifests mean, and how an ensemble's members are checked against each other, is hddm.ensemble.members.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json

EXPERT_FORMAT, ROUTER_FORMAT, ROUTING_FORMAT = "hddm.expert/1", "hddm.router/1", "hddm.routing/1"
ROUTING_DIR = "routing"  # inside an expert bundle: the routing information its contributor trained alone
WEIGHTS, MANIFEST = "model.safetensors", "manifest.json"
DIGEST = "bundle_sha256"  # over every other manifest field, weights_sha256 included


def manifest_digest(manifest: dict) -> str:
    body = {key: value for key, value in manifest.items() if key != DIGEST}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save_bundle(directory: str | Path, state_dict: dict[str, torch.Tensor], manifest: dict, fmt: str) -> Path:
    directory = Path(directory)
    tensors = {name: value.detach().cpu().contiguous() for name, value in state_dict.items()}
    save_safetensors(directory / WEIGHTS, tensors)
    full = json.loads(json.dumps({**manifest, "format": fmt, "weights_sha256": sha256_file(directory / WEIGHTS)}))
    write_json(directory / MANIFEST, {**full, DIGEST: manifest_digest(full)})
    return directory


def load_bundle(directory: str | Path, fmt: str) -> tuple[dict[str, torch.Tensor], dict]:
    directory = Path(directory)
    if not (directory / MANIFEST).is_file() or not (directory / WEIGHTS).is_file():
        raise HddmError(f"{directory} is not a bundle ({MANIFEST} + {WEIGHTS}): point at a folder hddm exported")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except json.JSONDecodeError as error:
        raise HddmError(f"{directory / MANIFEST} is not valid JSON ({error}): re-export the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise HddmError(f"{directory} has format {found!r}, expected {fmt!r}: check the path")
    if sha256_file(directory / WEIGHTS) != manifest.get("weights_sha256"):
        raise HddmError(
            f"{directory / WEIGHTS} does not match the sha256 in its manifest: the bundle was altered, re-export it"
        )
    if DIGEST not in manifest:
        print(
            f"hddm: warning: {directory} was exported before manifests carried a digest: its fields are trusted as "
            "written (re-export it to protect them)",
            file=sys.stderr,
        )
    elif manifest_digest(manifest) != manifest[DIGEST]:
        raise HddmError(
            f"{directory / MANIFEST} was edited after export (it no longer matches its {DIGEST}): re-export the bundle"
        )
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as error:
        raise HddmError(f"{directory / WEIGHTS} cannot be read as safetensors ({error}): re-export it") from None
    broken = sorted(name for name, value in state.items() if value.is_floating_point() and not value.isfinite().all())
    if broken:
        raise HddmError(
            f"{directory / WEIGHTS} holds NaN or infinite weights ({', '.join(broken[:3])}"
            f"{', ...' if len(broken) > 3 else ''}): retrain from a finite checkpoint"
        )
    return state, manifest


def save_expert_bundle(directory, state_dict, manifest) -> Path:
    return save_bundle(directory, state_dict, manifest, EXPERT_FORMAT)


def load_expert_bundle(directory) -> tuple[dict[str, torch.Tensor], dict]:
    return load_bundle(directory, EXPERT_FORMAT)
