"""Progress lines of a real (tiny, CPU) Lightning fit and test: printed with the bar off, silent with it on."""

import re
from typing import NamedTuple

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from hddm.lit.progress import ProgressLinesCallback


class FakeClock:
    """Ten seconds per training step or test batch, advanced by the module: estimates that can be asserted."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Plan(NamedTuple):  # like the evaluator's batches: which samples a batch makes
    start: int
    stop: int


class Tiny(L.LightningModule):
    def __init__(self, clock: FakeClock):
        super().__init__()
        self.layer, self.clock = torch.nn.Linear(2, 1), clock

    def training_step(self, batch, batch_idx):
        self.clock.now += 10
        return {"loss": self.layer(batch).pow(2).mean()}

    def train_dataloader(self):
        return DataLoader(torch.ones(64, 2), batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def test_step(self, batch: Plan, batch_idx):
        self.clock.now += 10

    def test_dataloader(self):
        plans = [Plan(0, 4), Plan(4, 8), Plan(8, 12), Plan(12, 14)]
        return DataLoader(plans, batch_size=None, collate_fn=lambda plan: plan)


def samples_in(plan: Plan) -> int:
    return plan.stop - plan.start


def trainer(callback, progress_bar: bool, max_steps: int = 6) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        callbacks=[callback],
        enable_progress_bar=progress_bar,
        enable_checkpointing=False,
        enable_model_summary=False,
        logger=False,
    )


def test_training_with_the_bar_off_prints_steps_an_estimate_and_the_loss(capsys):
    clock = FakeClock()
    callback = ProgressLinesCallback("train", every_s=1e9, every_fraction=0.5, clock=clock)
    trainer(callback, progress_bar=False).fit(Tiny(clock))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("hddm:")]
    assert [re.sub(r"loss [-\d.e]+", "loss L", line) for line in lines] == [
        "hddm: train: step 1/6 (17%), 10s elapsed, about 50s left, loss L",
        "hddm: train: step 3/6 (50%), 30s elapsed, about 30s left, loss L",
        "hddm: train: step 6/6 (100%), 1m00s elapsed, done, loss L",
    ]
    assert all(float(re.search(r"loss ([-\d.e]+)", line).group(1)) >= 0 for line in lines)


def test_training_stopped_before_max_steps_still_prints_its_last_line(capsys):
    clock = FakeClock()
    callback = ProgressLinesCallback("train", every_s=1e9, every_fraction=1.0, clock=clock)
    fit = trainer(callback, progress_bar=False, max_steps=100)
    fit.fit_loop.max_epochs = 1  # 16 steps of the 64-item epoch, then the epoch limit stops it
    fit.fit(Tiny(clock))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hddm: train: step 1/100 (1%), 10s elapsed, about 16m30s left")
    assert lines[-1].startswith("hddm: train: step 16/100 (16%), 2m40s elapsed, done")


def test_evaluation_with_the_bar_off_prints_batches_samples_and_an_estimate(capsys):
    clock = FakeClock()
    callback = ProgressLinesCallback("evaluate", samples_of=samples_in, every_s=15, clock=clock)
    trainer(callback, progress_bar=False).test(Tiny(clock), verbose=False)
    assert capsys.readouterr().out.splitlines() == [
        "hddm: evaluate: batch 1/4 (4/14 samples), 10s elapsed, about 25s left",
        "hddm: evaluate: batch 2/4 (8/14 samples), 20s elapsed, about 15s left",  # 10% of the samples: each batch
        "hddm: evaluate: batch 3/4 (12/14 samples), 30s elapsed, about 5s left",
        "hddm: evaluate: batch 4/4 (14/14 samples), 40s elapsed, done",
    ]


@pytest.mark.parametrize("stage", ["fit", "test"])
def test_silent_while_the_progress_bar_is_on(capsys, stage):
    clock = FakeClock()
    run = trainer(ProgressLinesCallback("train", samples_of=samples_in, clock=clock), progress_bar=True)
    getattr(run, stage)(Tiny(clock))
    assert "hddm:" not in capsys.readouterr().out
