"""A dependency graph of single-core jobs, run SLOTS at a time: shared by the experiment sets (mnist_experiments.py,
styled_experiments.py).

A job starts as soon as what it needs has finished, the one with the longest chain of work behind it first, so every
core stays busy from the first training to the last table. Each job is one hddm command that resumes from its
checkpoints or skips itself when its run folder says done (hddm.jobs), so re-running after an interruption redoes
only what is missing. A failing job is reported at once with its log; what needs it is skipped, the rest goes on.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path


@dataclass
class Job:
    name: str
    command: list
    needs: list = field(default_factory=list)
    minutes: float = 3.8  # expected single-core minutes here: the longest chain starts first


def needed(jobs: dict[str, Job], select=("*",)) -> list[Job]:
    """The jobs matching a select pattern and what they need, each once. A training (`train/...`) runs when something
    selected needs it, or when a pattern names trainings ('train/*_s1')."""
    explicit = [p for p in select if p.startswith("train/")]
    chosen = set()
    todo = [n for n in jobs if any(fnmatch(n, p) for p in (explicit if n.startswith("train/") else select))]
    while todo:
        name = todo.pop()
        if name not in chosen:
            chosen.add(name)
            todo += jobs[name].needs
    return [job for name, job in jobs.items() if name in chosen]


def critical_minutes(jobs: list[Job]) -> dict[str, float]:
    """{job: its minutes plus the longest chain of jobs waiting on it}: the start order that ends soonest."""
    waiting_on = {job.name: [j for j in jobs if job.name in j.needs] for job in jobs}
    memo = {}

    def chain(job):
        if job.name not in memo:
            memo[job.name] = job.minutes + max((chain(j) for j in waiting_on[job.name]), default=0)
        return memo[job.name]

    return {job.name: chain(job) for job in jobs}


def describe(jobs: list[Job], slots: int) -> str:
    lines = [f"{job.name}  ({job.minutes:.1f} min; needs {', '.join(job.needs) or 'nothing'})" for job in jobs]
    total, chain = sum(job.minutes for job in jobs), max(critical_minutes(jobs).values(), default=0)
    lines.append(
        f"{len(jobs)} jobs, {total:.0f} single-core minutes expected: at least {max(total / slots, chain):.0f} min "
        f"wall with {slots} jobs at once"
    )
    return "\n".join(lines)


def log_of(logs: Path, name: str) -> Path:
    return logs / (name.replace("/", ".") + ".log")


def run(jobs: list[Job], slots: int, logs: Path) -> bool:
    """Start the ready job with the longest chain behind it whenever a slot is free; report each end at once."""
    logs.mkdir(parents=True, exist_ok=True)
    priority = critical_minutes(jobs)
    waiting, running, finished, failed = list(jobs), {}, set(), set()
    start = time.time()
    while waiting or running:
        for job in [j for j in waiting if any(n in failed for n in j.needs)]:
            waiting.remove(job)
            failed.add(job.name)
            print(f"skipped (needs a failed job): {job.name}", flush=True)
        ready = sorted((j for j in waiting if all(n in finished for n in j.needs)), key=lambda j: -priority[j.name])
        for job in ready[: slots - len(running)]:
            waiting.remove(job)
            with open(log_of(logs, job.name), "w") as log:
                process = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT)
            running[job.name] = (process, time.time())
        time.sleep(1)
        for name, (process, began) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            took = f"{(time.time() - began) / 60:.1f} min, at {(time.time() - start) / 60:.0f} min"
            if process.returncode == 0:
                finished.add(name)
                print(f"done ({took}): {name}", flush=True)
            else:
                failed.add(name)
                print(f"FAILED ({took}; see {log_of(logs, name)}): {name}", flush=True)
    print(
        f"{len(finished)} jobs done, {len(failed)} failed or skipped, {(time.time() - start) / 60:.1f} min wall",
        flush=True,
    )
    return not failed
