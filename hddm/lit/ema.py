"""EMA of the weights through Lightning's WeightAveraging callback, with a warm-up of the decay.

Lightning saves the averaged weights as the checkpoint's `state_dict`, the live weights under
`current_model_state` and the update count under `averaging_state`, so a resumed run continues both exactly.
"""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import WeightAveraging


def warmed_up_decay(decay: float, num_updates: int, warmup: bool) -> float:
    """min(decay, (1 + n) / (10 + n)): at 0.9999 a short run would otherwise keep its EMA at initialisation."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates)) if warmup else decay


class EMA(WeightAveraging):
    def __init__(self, decay: float = 0.9999, warmup: bool = True):
        def ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor):
            weight = 1.0 - warmed_up_decay(decay, int(num_averaged), warmup)
            torch._foreach_lerp_(averaged, current, weight)

        super().__init__(multi_avg_fn=ema_update, use_buffers=False)  # buffers are constants (null text)
        self.decay, self.warmup = decay, warmup

    def averaged_module(self):
        """The LightningModule copy holding the EMA weights (None outside fit)."""
        return None if self._average_model is None else self._average_model.module
