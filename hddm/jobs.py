"""Job bookkeeping for every entry point: a status file per run folder, skipping finished jobs, and sweeps
that report a failing job at once and go on with the others.

A launch is a transaction on its run folder: the whole config is validated, and a running job's owner checked,
before anything is written there (Hydra's own .hydra/ writing is turned off in every config root and done here,
its log file opens at the first record), so a refused launch leaves the folder byte-identical. Each run folder then
gets status.json: state (running | done | failed), the digest of the job's resolved config, the error if any, when it
was last seen, the process running it, and once done the sha256 of its outputs and inputs (hddm/run_record.py).
Re-running a job whose folder says done skips it only while the config digest is the same, every recorded output
still matches and every input is unchanged, so re-running a sweep redoes only what is missing or changed. Under
`-m` (multirun) a
failing job is printed at once and recorded, the sweep goes on, and `SweepSummary` (a Hydra callback) prints
one line per job at the end and exits with code 2 if any failed. Status files live in the run folders, so
this works alike for the basic, joblib and submitit launchers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from hddm.errors import HddmError, os_error_message
from hddm.io import atomic_write, write_json
from hddm.run_record import STATUS, changed_inputs, changed_outputs, input_digests, output_digests

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # an absolute path: Hydra resolves relative ones per caller


def config_digest(cfg: DictConfig) -> str:
    """sha256 of the resolved job config (what the job computes from), independent of key order."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # a missing or broken value: the job itself reports it in one line; hash what is written
        resolved = OmegaConf.to_container(cfg, resolve=False)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_status(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / STATUS).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_status(run_dir: Path, state: str, digest: str, **extra: Any) -> None:
    write_json(Path(run_dir) / STATUS, {"state": state, "config_digest": digest, "last_seen": time.time(), **extra})


def is_rank_zero() -> bool:
    """False in the extra processes of a multi-process job (Lightning's DDP launcher, SLURM tasks): only the first
    process keeps the status file; every process reads it, so all of them skip a finished job alike."""
    return all(int(os.environ.get(name, 0)) == 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def live_owner(status: dict | None) -> int | None:
    """The pid of a live process on this machine that is running the job now, if any: a second launch of the same
    job (two sweeps sharing jobs) must not write into the run folder it is writing."""
    if not status or status.get("state") != "running" or status.get("host") != socket.gethostname():
        return None
    pid = status.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:  # killed without a word (SIGKILL, power loss): resuming is safe
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return pid


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def stale_reason(run_dir: Path, previous: dict, inputs: dict[str, str]) -> str | None:
    """Why a folder recorded as done cannot be skipped: changed outputs or inputs (records without them: none)."""
    outputs = changed_outputs(run_dir, previous.get("outputs", {}))
    if outputs:
        return f"its outputs changed ({', '.join(outputs[:3])}{' ...' if len(outputs) > 3 else ''})"
    changed = changed_inputs(previous["inputs"], inputs) if "inputs" in previous else []
    return f"its inputs changed ({', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''})" if changed else None


def write_hydra_record(run_dir: Path, cfg: DictConfig) -> None:
    """What Hydra writes into .hydra/ (config, its own config, the overrides), once the launch is accepted."""
    hydra_cfg = HydraConfig.get()
    for name, node in (
        ("config.yaml", cfg),
        ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
        ("overrides.yaml", hydra_cfg.overrides.task),
    ):
        text = OmegaConf.to_yaml(node)
        atomic_write(Path(run_dir) / ".hydra" / name, lambda tmp, text=text: Path(tmp).write_text(text))


def refuse(message: str) -> None:
    print(f"hddm: error: {message}", file=sys.stderr, flush=True)
    if not in_multirun():
        sys.exit(2)


def run_job(
    job: Callable[[], object],
    run_dir: Path,
    cfg: DictConfig,
    skip_done: bool = True,
    validate: Callable[[DictConfig], object] | None = None,
) -> None:
    """Run one entry point's job with status bookkeeping.

    A config that does not validate, or a folder another live process is running, is refused before anything is
    written. A user-facing problem (HddmError) is one line on stderr; alone it exits with code 2, in a sweep the job
    is marked failed and the sweep continues. An unexpected exception in a sweep is recorded the same way, with its
    traceback in error.txt, so one broken job never hides the others' results.
    """
    run_dir, digest = Path(run_dir), config_digest(cfg)
    previous = read_status(run_dir)
    if validate is not None:
        try:
            validate(cfg)
        except HddmError as error:
            if in_multirun() and previous is None and is_rank_zero():  # a fresh job folder: the sweep counts it failed
                write_status(run_dir, "failed", digest, error=str(error))
            refuse(f"{error}" + (f" [{run_dir}]" if in_multirun() else ""))
            return
    inputs = input_digests(cfg, run_dir)
    done = previous and previous.get("state") == "done" and previous.get("config_digest") == digest
    reason = stale_reason(run_dir, previous, inputs) if done else None
    if skip_done and done and reason is None:
        if is_rank_zero():
            kept = {key: value for key, value in previous.items() if key not in ("state", "config_digest", "last_seen")}
            write_status(run_dir, "done", digest, **{**kept, "skipped": True})
            print(f"hddm: skipped {run_dir} (done with this config)")
        return
    owner = live_owner(previous) if is_rank_zero() else None  # other ranks find rank 0's own "running" status
    if owner is not None:
        refuse(
            f"{run_dir} is being run by process {owner} on this machine: wait for it, or stop it "
            f"(kill {owner}) and re-run to resume"
        )
        return
    if skip_done and done:
        print(f"hddm: re-running {run_dir}: {reason}", flush=True)
    record = write_status if is_rank_zero() else (lambda *args, **kwargs: None)
    started = time.time()
    try:
        if is_rank_zero() and HydraConfig.initialized():
            write_hydra_record(run_dir, cfg)
        record(run_dir, "running", digest, started=started, pid=os.getpid(), host=socket.gethostname())
        job()
    except Exception as error:
        message = user_message(error)
        if message is not None:
            try:
                record(run_dir, "failed", digest, started=started, error=message)
            except OSError:  # the disk that failed the job may hold the status file too: the line still goes out
                pass  # a dead process's "running" status resumes as killed (live_owner)
            refuse(message + (f" [{run_dir}]" if in_multirun() else ""))
            return
        # a bug: keep the traceback for the report, let a single run fail loudly
        try:
            record(run_dir, "failed", digest, started=started, error=f"{type(error).__name__}: {error}")
        except OSError:
            pass
        if not in_multirun():
            raise
        (run_dir / "error.txt").write_text(traceback.format_exc())
        print(
            f"hddm: job failed: {run_dir}: {type(error).__name__}: {error} (traceback in {run_dir / 'error.txt'})",
            file=sys.stderr,
            flush=True,
        )
        return
    if is_rank_zero():
        # inputs hashed again: a job may create one it reads (a partition, a cache) that a re-run finds in place
        outputs, inputs = output_digests(run_dir), input_digests(cfg, run_dir)
        write_status(run_dir, "done", digest, started=started, finished=time.time(), outputs=outputs, inputs=inputs)


def user_message(error: Exception) -> str | None:
    """The one line for a problem the user can fix (HddmError, a full disk, a read-only folder); None for a bug."""
    if isinstance(error, HddmError):
        return str(error)
    return os_error_message(error) if isinstance(error, OSError) else None


class RunFolderCheck(Callback):
    """Creates the run (or sweep) folder before Hydra does, so one that cannot be created (read-only, no permission,
    a full disk) is one `hddm: error:` line and exit code 2 instead of Hydra's traceback."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.create(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.create(config.hydra.sweep.dir)

    @staticmethod
    def create(folder: str) -> None:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"hddm: error: {user_message(error) or error}", file=sys.stderr, flush=True)
            sys.exit(2)


class SweepSummary(Callback):
    """At the end of a multirun: one line per job seen during this sweep; exit code 2 if any failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = []
        for path in sorted(sweep_dir.glob(f"**/{STATUS}")):
            status = read_status(path.parent)
            if status and status.get("last_seen", 0) >= getattr(self, "started", 0):
                jobs.append((path.parent, status))
        failed = [(run_dir, s) for run_dir, s in jobs if s["state"] != "done"]
        skipped = sum(bool(s.get("skipped")) for _, s in jobs)
        print(
            f"hddm: sweep {sweep_dir}: {len(jobs)} jobs, {len(jobs) - len(failed)} done ({skipped} skipped as already "
            "done), "
            f"{len(failed)} failed"
        )
        for run_dir, status in failed:
            print(f"  failed: {run_dir}: {status.get('error', status['state'])}")
        if failed:
            sys.exit(2)


def run_cli(
    job: Callable[[], object],
    cfg: DictConfig | None = None,
    skip_done: bool = True,
    validate: Callable[[DictConfig], object] | None = None,
) -> None:
    """An entry point's main: given the job's config (under Hydra), run_job's bookkeeping; without it, just the
    one-line error and exit code 2."""
    if cfg is not None and HydraConfig.initialized():
        run_job(job, Path(HydraConfig.get().runtime.output_dir), cfg, skip_done, validate)
        return
    try:
        job()
    except Exception as error:
        message = user_message(error)
        if message is None:
            raise
        print(f"hddm: error: {message}", file=sys.stderr)
        sys.exit(2)


def hydra_command(
    config_name: str,
    job: Callable[[DictConfig, Path], object],
    validate: Callable[[DictConfig], object] | None,
    bookkeeping: bool = True,
    skip_done: bool = True,
) -> Callable[[], None]:
    """Every command's main: Hydra composes conf/<config_name>.yaml with the command line, validate(cfg) checks it
    whole, then job(cfg, run_dir) runs under run_job's bookkeeping (status file, skip when done, one-line errors,
    exit code 2); without bookkeeping, only the one-line errors and the .hydra/ record."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def hydra_main(cfg: DictConfig) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        if bookkeeping:
            run_cli(lambda: job(cfg, run_dir), cfg, skip_done, validate)
            return
        write_hydra_record(run_dir, cfg)
        run_cli(lambda: job(cfg, run_dir))

    def main() -> None:
        previous = os.environ.get("HYDRA_FULL_ERROR")
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its composition errors to us instead of printing them
        try:
            hydra_main()
        except HydraException as error:
            print(f"hddm: error: {composition_error(error)}", file=sys.stderr)
            sys.exit(2)
        except (MissingMandatoryValue, InterpolationToMissingValueError) as error:  # a ??? the run folder needs
            key = re.search(r"Missing mandatory value: (\S+)", str(error))
            named = key.group(1) if key else (error.full_key or "a required value")
            print(
                f"hddm: error: missing config value {named}: set it on the command line ({named}=...)", file=sys.stderr
            )
            sys.exit(2)
        finally:
            if previous is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = previous

    return main


def composition_error(error: HydraException) -> str:
    """Hydra's multi-line composition errors as one line: an unknown option lists the group's choices."""
    if isinstance(error, MissingConfigException) and error.options and error.missing_cfg_file:
        group, _, name = error.missing_cfg_file.rpartition("/")
        return f"{group}={name} is not an option: choose one of {', '.join(error.options)} ({group}=<option>)"
    invalid = re.match(r"Invalid value '(.*)', expected one of \[(.*)\]", str(error.__cause__ or ""))
    override = re.match(r"Error merging override (\S+)", str(error))
    if invalid and override:
        key = override.group(1).split("=")[0]
        return f"{override.group(1)} is not an option: choose one of {invalid.group(2)} ({key}=<option>)"
    text = str(error).split("Config search path:")[0]
    parts = [line.strip().rstrip(".") for line in text.splitlines() if line.strip()]
    if error.__cause__ is not None:
        parts.insert(1, str(error.__cause__).splitlines()[0])
    return "; ".join(parts)
