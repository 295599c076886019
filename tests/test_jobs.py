"""Sweeps: status files, skipping finished jobs, failures reported at once, launcher and strategy configs."""

import json
import os
import subprocess
import sys

from conftest import REPO, run_cli
from hydra.utils import instantiate

TINY = [
    "data.batch_size=16",
    "sample.n=2",
    "sample.steps=2",
    "trainer=debug",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def statuses(sweep_dir):
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob("*/status.json")}


def test_joblib_multirun_completes_and_a_rerun_skips_both_jobs(cache_dir, tmp_path):
    args = ["hddm.train", "-m", "hydra/launcher=local", "cluster=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"]
    first = run_cli(args, cwd=REPO, env_extra=ONE_THREAD)
    assert first.returncode == 0, first.stderr[-2000:]
    done = statuses(tmp_path)
    assert sorted(done) == ["fm_mnist_digits10_c0_tiny_s0", "fm_mnist_digits10_c1_tiny_s0"]
    assert all(s["state"] == "done" and not s.get("skipped") for s in done.values())
    assert "2 jobs, 2 done (0 skipped as already done), 0 failed" in first.stdout

    again = run_cli(args, cwd=REPO, env_extra=ONE_THREAD)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 jobs, 2 done (2 skipped as already done), 0 failed" in again.stdout
    assert all(s["skipped"] for s in statuses(tmp_path).values())


def test_a_failing_job_is_reported_at_once_and_the_sweep_goes_on(cache_dir, tmp_path):
    command = [sys.executable, "-m", "hddm.train", "-m", "cluster=99,0", *TINY, f"hydra.sweep.dir={tmp_path}"]
    result = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, **ONE_THREAD},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    lines = result.stdout.splitlines()
    failure = next(i for i, line in enumerate(lines) if line.startswith("hddm: error: cluster 99"))
    trained = next(i for i, line in enumerate(lines) if line.startswith("hddm: trained fm expert on cluster 0"))
    assert failure < trained, "the failure must be printed when it happens, before the next job runs"
    assert result.returncode == 2 and "Traceback" not in result.stdout
    assert "2 jobs, 1 done (0 skipped as already done), 1 failed" in result.stdout
    status = statuses(tmp_path)
    assert (
        status["fm_mnist_digits10_c99_tiny_s0"]["state"] == "failed"
        and "cluster 99" in status["fm_mnist_digits10_c99_tiny_s0"]["error"]
    )
    assert status["fm_mnist_digits10_c0_tiny_s0"]["state"] == "done"


def test_launcher_configs_compose(compose):
    slurm = compose(["hydra/launcher=slurm", "experiment=real_scale_xl"], return_hydra_config=True).hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher") and slurm.max_num_timeout > 0 and slurm.gpus_per_node == 8
    local = compose(["hydra/launcher=local"], return_hydra_config=True).hydra.launcher
    assert local._target_.endswith("JoblibLauncher") and local.n_jobs == 2


def test_fsdp_strategy_wraps_each_dit_block(compose):
    from lightning.pytorch.strategies import FSDPStrategy

    from hddm.models.dit import DiTBlock

    strategy = instantiate(compose(["trainer=fsdp"]).trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {DiTBlock}


def test_ddp_on_cpu_with_two_processes_trains_one_expert(cache_dir, tmp_path):
    args = [
        "hddm.train",
        "trainer=ddp_cpu",
        "trainer.max_steps=4",
        "trainer.val_check_interval=4",
        "trainer.limit_val_batches=1",
        "checkpoint.every_n_steps=4",
        "data.batch_size=8",
        "sample.n=2",
        "sample.steps=2",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"hydra.run.dir={tmp_path}",
    ]
    result = run_cli(args, cwd=REPO, env_extra=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["steps"] == 4 and record["world_size"] == 2
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "done"


def test_a_job_another_live_process_is_running_is_refused_and_a_dead_ones_resumed(tmp_path, capsys):
    import socket

    import pytest
    from omegaconf import OmegaConf

    from hddm.jobs import read_status, run_job, write_status

    cfg, ran = OmegaConf.create({"cluster": 0}), []
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_status(tmp_path, "running", "x", pid=other.pid, host=socket.gethostname())
        with pytest.raises(SystemExit) as refused:
            run_job(lambda: ran.append(1), tmp_path, cfg)
        assert refused.value.code == 2 and not ran and read_status(tmp_path)["pid"] == other.pid  # its status untouched
        assert f"is being run by process {other.pid}" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()
    run_job(lambda: ran.append(1), tmp_path, cfg)  # the owner is gone (as after SIGKILL): the job runs, resuming
    assert ran == [1] and read_status(tmp_path)["state"] == "done"
