"""Periodic one-line progress with an estimate of the time left, for long work that has no progress bar.

An evaluation or a reference-statistics pass can run for most of an hour, and in a log file or under a batch
scheduler (or with Lightning's bar turned off) it would otherwise print nothing until it ends. Each line stands
on its own and is flushed at once; lines are throttled (the first, then every `every_fraction` of the work or
every `every_s` seconds, whichever comes first, and always the last) so a long run prints a few dozen, not
thousands.
"""

from __future__ import annotations

import time
from typing import Callable


def duration(seconds: float) -> str:
    """45s, 1m02s, 2h05m: short and exact enough for an estimate."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def percent(done: float, total: float | None) -> str:
    return f"{100 * done / total:.0f}%" if total else "?%"


class ProgressLines:
    """Prints `hddm: <task>: <count>, <elapsed> elapsed, about <left> left[, <extra>]` when one is due.

    `done` and `total` measure the work in one unit (steps, samples, images): the estimate assumes the rest goes
    as fast as what was done since start(); `total` None (not known) prints no estimate."""

    def __init__(
        self,
        task: str,
        total: float | None,
        every_s: float = 60.0,
        every_fraction: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.task, self.total, self.every_s, self.every_fraction, self.clock = (
            task,
            total,
            every_s,
            every_fraction,
            clock,
        )
        self.start()

    def start(self, done: float = 0) -> None:
        """Measure from now and from `done` (a resumed run's first step): the rate is this session's own."""
        self.started = self.last_printed_at = self.clock()
        self.first_done = self.printed_done = done
        self.next_mark = done
        self.printed_any = self.finished = False

    def due(self, done: float, last: bool) -> bool:
        if last:
            return not self.finished
        if done == self.printed_done and self.printed_any:
            return False  # nothing new since the last line (gradient accumulation repeats a step)
        if not self.printed_any or self.clock() - self.last_printed_at >= self.every_s:
            return True
        return self.total is not None and done >= self.next_mark

    def line(self, done: float, count: str, extra: str = "", last: bool = False) -> str:
        elapsed = self.clock() - self.started
        if last:
            left = "done"
        elif self.total is not None and done > self.first_done:
            rate = (done - self.first_done) / elapsed if elapsed > 0 else float("inf")
            left = f"about {duration((self.total - done) / rate)} left"
        else:
            left = ""
        parts = [count, f"{duration(elapsed)} elapsed", left, extra]
        return f"hddm: {self.task}: " + ", ".join(part for part in parts if part)

    def update(self, done: float, count: str, extra: str = "", last: bool = False) -> bool:
        """Print the line for `done` (count: how it reads, e.g. `step 300/600 (50%)`) if one is due; True if printed."""
        if not self.due(done, last):
            return False
        print(self.line(done, count, extra, last), flush=True)
        self.printed_any, self.printed_done, self.last_printed_at, self.finished = True, done, self.clock(), last
        if self.total is not None:
            step = max(self.every_fraction * self.total, 1)
            while self.next_mark <= done:
                self.next_mark += step
        return True
