"""The shipped pretrained base: loaded by checksum into an RGB model, refused in one line when corrupt."""

import shutil

import pytest
import torch

from hddm import inits
from hddm.errors import HddmError
from hddm.inits import apply_init, shipped_base
from hddm.models.dit import DIT_SIZES, DiT


def test_base_loads_by_checksum_into_an_rgb_model():
    assert shipped_base() == inits.BASE_DIR
    model = DiT(DIT_SIZES["tiny"], 3, 28, 384)
    manifest = apply_init(model, "base")
    assert manifest["in_channels"] == 3 and manifest["source"]["data"] == "styled_digits"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_corrupt_base_is_refused_in_one_line(tmp_path, monkeypatch):
    copy = tmp_path / "base_dit"
    shutil.copytree(inits.BASE_DIR, copy)
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[len(weights) // 2] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(weights))
    monkeypatch.setattr(inits, "BASE_DIR", copy)
    with pytest.raises(HddmError, match="fails its checksum") as error:
        apply_init(DiT(DIT_SIZES["tiny"], 3, 28, 384), "base")
    assert "\n" not in str(error.value)
