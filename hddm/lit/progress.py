"""Training and test progress as periodic printed lines when Lightning's progress bar is off.

With `trainer.enable_progress_bar=false` (logs, batch jobs, the experiment configs) Lightning prints nothing
between start and end, and an evaluation can take most of an hour: these lines say how far it is and about how
long is left. Silent whenever a progress bar is on (it already shows the same), and on every rank but global zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, Callable

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from hddm.progress_lines import ProgressLines, percent


def loss_of(outputs: Any) -> float | None:
    """The training step's loss, whether it returned the tensor or {"loss": tensor, ...}."""
    loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
    return float(loss.detach()) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else None


def as_list(loaders: Any) -> list:
    """trainer.test_dataloaders as a list: one loader, a list or tuple of them, or a dict of them."""
    if loaders is None:
        return []
    if isinstance(loaders, Mapping):
        return list(loaders.values())
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]


class ProgressLinesCallback(Callback):
    """`hddm: <task>: step 300/600 (50%), ...` while fitting; `hddm: <task>: batch 3/20 (150/1000 samples), ...`
    while testing. samples_of(batch): how many samples a test batch makes; the test loaders are iterated once at
    the start to count them all, so give it only for loaders of cheap batch plans (the evaluator's)."""

    def __init__(
        self,
        task: str,
        samples_of: Callable[[Any], int] | None = None,
        every_s: float = 60.0,
        every_fraction: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.task, self.samples_of, self.clock = task, samples_of, clock
        self.every_s, self.every_fraction = every_s, every_fraction
        self.lines: ProgressLines | None = None

    def printing(self, trainer: L.Trainer) -> bool:
        return trainer.is_global_zero and trainer.progress_bar_callback is None

    def new_lines(self, total: float | None, done: float = 0) -> ProgressLines:
        lines = ProgressLines(self.task, total, self.every_s, self.every_fraction, self.clock)
        lines.start(done)
        return lines

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.printing(trainer):
            self.lines = None
            return
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else trainer.estimated_stepping_batches
        self.steps = None if total is None or math.isinf(total) else int(total)
        self.lines = self.new_lines(self.steps, trainer.global_step)
        self.loss = None

    def train_count(self, step: int) -> str:
        return f"step {step}/{self.steps} ({percent(step, self.steps)})" if self.steps else f"step {step}"

    def train_extra(self) -> str:
        return "" if self.loss is None else f"loss {self.loss:.4g}"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.lines is None:
            return
        loss = loss_of(outputs)
        self.loss = self.loss if loss is None else loss
        step = trainer.global_step
        self.lines.update(
            step, self.train_count(step), self.train_extra(), last=self.steps is not None and step >= self.steps
        )

    def on_train_end(self, trainer, pl_module) -> None:
        if self.lines is not None:  # stopped before max_steps (max_epochs, early stopping): its own last line
            self.lines.update(trainer.global_step, self.train_count(trainer.global_step), self.train_extra(), last=True)
            self.lines = None

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.printing(trainer):
            self.lines = None
            return
        counts = trainer.num_test_batches
        self.batches = None if any(math.isinf(count) for count in counts) else int(sum(counts))
        loaders = as_list(trainer.test_dataloaders)
        self.samples = (
            sum(self.samples_of(batch) for loader in loaders for batch in loader) if self.samples_of else None
        )
        self.samples_done = self.batches_done = 0
        self.lines = None  # started at the first batch: what on_test_start loads (members, references) is not its pace

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.lines is None and self.printing(trainer) and self.batches_done == 0:
            self.lines = self.new_lines(self.samples if self.samples is not None else self.batches)

    def test_count(self) -> str:
        count = (
            f"batch {self.batches_done}/{self.batches}" if self.batches is not None else f"batch {self.batches_done}"
        )
        if self.samples is not None:
            return f"{count} ({self.samples_done}/{self.samples} samples)"
        return f"{count} ({percent(self.batches_done, self.batches)})" if self.batches else count

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.lines is None:
            return
        self.batches_done += 1
        if self.samples_of is not None:
            self.samples_done += self.samples_of(batch)
        done = self.samples_done if self.samples is not None else self.batches_done
        self.lines.update(done, self.test_count(), last=self.batches is not None and self.batches_done >= self.batches)

    def on_test_end(self, trainer, pl_module) -> None:
        if self.lines is not None:
            done = self.samples_done if self.samples is not None else self.batches_done
            self.lines.update(done, self.test_count(), last=True)
            self.lines = None
