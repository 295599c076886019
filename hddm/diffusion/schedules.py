"""Continuous noise schedules on t in [0, 1]: t=0 is data, t=1 is noise, x_t = alpha(t) x0 + sigma(t) eps."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from hddm.errors import HddmError


class Schedule(ABC):
    """alpha(t), sigma(t) and their exact time derivatives; every method is elementwise on a tensor t."""

    name: str

    @abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def d_alpha(self, t: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def d_sigma(self, t: torch.Tensor) -> torch.Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CosineSchedule(Schedule):
    """Cosine (variance-preserving) path: alpha = cos(pi t / 2), sigma = sin(pi t / 2)."""

    name = "cosine"

    def alpha(self, t):
        return torch.cos(0.5 * math.pi * t)

    def sigma(self, t):
        return torch.sin(0.5 * math.pi * t)

    def d_alpha(self, t):
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)

    def d_sigma(self, t):
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)


class LinearSchedule(Schedule):
    """Rectified-flow / Flow Matching path: alpha = 1 - t, sigma = t."""

    name = "linear"

    def alpha(self, t):
        return 1.0 - t

    def sigma(self, t):
        return t

    def d_alpha(self, t):
        return -torch.ones_like(t)

    def d_sigma(self, t):
        return torch.ones_like(t)


SCHEDULES: dict[str, type[Schedule]] = {"cosine": CosineSchedule, "linear": LinearSchedule}


def get_schedule(name: str) -> Schedule:
    if name not in SCHEDULES:
        raise HddmError(f"unknown schedule {name!r}: choose one of {sorted(SCHEDULES)} (schedule=<name>)")
    return SCHEDULES[name]()
