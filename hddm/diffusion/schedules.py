"""Continuous noise schedules on t in [0, 1]: t=0 is data, t=1 is noise, x_t = alpha(t) x0 + sigma(t) eps."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from hddm.choices import ScheduleName
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

    def time_at_noise_ratio(self, sigma: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The t at which sigma(t) / alpha(t) = sigma / alpha (inputs given apart, so alpha = 0 is t = 1).

        Bisection on the monotone sigma(t) alpha - alpha(t) sigma; subclasses with a closed form override it."""
        lo, hi = torch.zeros_like(sigma), torch.ones_like(sigma)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self.sigma(mid) * alpha - self.alpha(mid) * sigma > 0
            lo, hi = torch.where(above, lo, mid), torch.where(above, mid, hi)
        return 0.5 * (lo + hi)

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

    def time_at_noise_ratio(self, sigma, alpha):
        return torch.atan2(sigma, alpha) * (2.0 / math.pi)


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

    def time_at_noise_ratio(self, sigma, alpha):
        return sigma / (sigma + alpha)


SCHEDULES: dict[ScheduleName, type[Schedule]] = {
    ScheduleName.cosine: CosineSchedule,
    ScheduleName.linear: LinearSchedule,
}


def get_schedule(name: str) -> Schedule:
    if name not in SCHEDULES:
        raise HddmError(f"unknown schedule {name!r}: choose one of {', '.join(SCHEDULES)} (schedule=<name>)")
    return SCHEDULES[name]()
