"""The torch device a command runs on (`device=auto|cpu|cuda|cuda:N`), refused in one line when absent."""

from __future__ import annotations

import torch

from hddm.errors import HddmError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HddmError(f"device={name} is not a device: use device=auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HddmError(f"device={name} but this machine has no CUDA device: use device=cpu (or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise HddmError(f"device={name} but this machine has {torch.cuda.device_count()} CUDA devices: use cuda:0..")
    return device
