"""Training objectives: what the network predicts, on which path, and the regression loss."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch

from hddm.choices import ObjectiveName
from hddm.diffusion.schedules import Schedule
from hddm.errors import HddmError


class Prediction(StrEnum):
    epsilon = "epsilon"  # DDPM: the network predicts the noise eps
    velocity = "velocity"  # Flow Matching: the network predicts v = d x_t / dt


# what each objective's network predicts
PREDICTION_OF = {ObjectiveName.ddpm: Prediction.epsilon, ObjectiveName.fm: Prediction.velocity}


def broadcast_time(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Shape a per-sample t of shape [B] so it broadcasts against a batch like [B, C, H, W]."""
    return t.reshape(t.shape[0], *([1] * (like.ndim - 1)))


@dataclass(frozen=True)
class Objective:
    """A prediction type on a schedule. time_scale maps t in [0, 1] to the backbone's timestep (999 t)."""

    prediction: Prediction
    schedule: Schedule
    time_scale: float = 999.0

    def noisy_sample(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tb = broadcast_time(t, x0)
        return self.schedule.alpha(tb) * x0 + self.schedule.sigma(tb) * eps

    def target(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.prediction is Prediction.epsilon:
            return eps
        tb = broadcast_time(t, x0)
        return self.schedule.d_alpha(tb) * x0 + self.schedule.d_sigma(tb) * eps

    def loss(self, prediction: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-sample mean squared error, shape [B] (the caller reduces, so it can also bin by t)."""
        return (prediction - self.target(x0, eps, t)).pow(2).flatten(1).mean(1)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_scale * t


def make_objective(prediction: str, schedule: Schedule, time_scale: float = 999.0) -> Objective:
    try:
        kind = Prediction(prediction)
    except ValueError:
        raise HddmError(
            f"unknown prediction type {prediction!r}: use 'epsilon' (objective=ddpm) or 'velocity' (objective=fm)"
        ) from None
    return Objective(kind, schedule, float(time_scale))
