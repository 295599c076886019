"""Run folders as transactions: a refused launch writes nothing, `skip when done` trusts only outputs that still
match and inputs that are unchanged, and `hddm.report` shows numbers only from such records."""

import json
import os
import shutil
import socket

from conftest import CONF, one_error_line, run_cli, sample_quickly, snapshot

ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def bundles(members, tmp_path):
    copies = []
    for name in ("fm0", "ddpm1"):
        shutil.copytree(members / name / "expert", tmp_path / name)
        copies.append(tmp_path / name)
    return copies


def assert_refused(result, match, before):
    one_error_line(result, match)
    assert snapshot(before["folder"]) == before["files"]


def test_refused_launches_leave_the_folder_byte_identical(members, tmp_path):
    experts, run_dir = bundles(members, tmp_path), tmp_path / "run"
    assert sample_quickly(run_dir, experts).returncode == 0
    finished = {"folder": tmp_path, "files": snapshot(tmp_path)}
    assert_refused(
        sample_quickly(run_dir, experts, "n=-5"), "n=-5 is out of range", finished
    )  # a typo into a done folder

    status = json.loads((run_dir / "status.json").read_text())
    status.update(state="running", pid=os.getpid(), host=socket.gethostname())  # this test process: alive
    (run_dir / "status.json").write_text(json.dumps(status))
    running = {"folder": tmp_path, "files": snapshot(tmp_path)}
    assert_refused(sample_quickly(run_dir, experts, "n=4"), "is being run by process", running)


def test_skip_when_done_checks_outputs_and_inputs(members, tmp_path):
    experts, run_dir = bundles(members, tmp_path), tmp_path / "run"
    assert sample_quickly(run_dir, experts).returncode == 0
    again = sample_quickly(run_dir, experts)
    assert "hddm: skipped" in again.stdout

    (run_dir / "grid.png").unlink()
    deleted = sample_quickly(run_dir, experts)
    assert "its outputs changed (grid.png)" in deleted.stdout and (run_dir / "grid.png").is_file()

    fm, ddpm = experts
    shutil.rmtree(fm)
    shutil.copytree(members / "fm0" / "expert", fm)
    manifest = json.loads((fm / "manifest.json").read_text())
    (fm / "manifest.json").write_text(json.dumps(manifest, indent=1))  # the same bundle, other bytes: a new export
    replaced = sample_quickly(run_dir, experts)
    assert replaced.returncode == 0 and f"its inputs changed ({fm})" in replaced.stdout
    record = json.loads((run_dir / "status.json").read_text())
    assert record["state"] == "done" and {str(fm), str(ddpm)} <= set(record["inputs"])


def test_report_shows_numbers_only_from_matching_records(members, tmp_path):
    experts, sweep = bundles(members, tmp_path), tmp_path / "sweep"
    result = run_cli(
        [
            "hddm.sample",
            "-m",
            f"ensemble.experts=[{','.join(str(e) for e in experts)}]",
            "routing=threshold",
            "routing.tau=0.3,0.7",
            "n=2",
            "steps=2",
            "prompt=x",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=CONF.parent,
        env_extra=ENV,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = sorted(path.parent for path in sweep.glob("*/record.json"))
    record = json.loads((first / "record.json").read_text())
    record["metrics"] = {"seconds": -1.0}  # the old number beside a re-run's new settings
    (first / "record.json").write_text(json.dumps(record))
    report = run_cli(["hddm.report", str(sweep)], cwd=CONF.parent, env_extra=ENV)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "2 jobs: 1 done, 0 failed, 1 running, stale or unreadable" in report.stdout
    table = (sweep / "report" / "report.md").read_text()
    assert "stale" in table and "-1" not in table


def test_garbage_under_a_sweep_is_listed_unreadable(tmp_path):
    for job, (overrides, record) in enumerate([(b"- n=2\n", os.urandom(300)), (b"\x98" + os.urandom(99), b"{}")]):
        (tmp_path / str(job) / ".hydra").mkdir(parents=True)
        (tmp_path / str(job) / ".hydra" / "overrides.yaml").write_bytes(overrides)
        (tmp_path / str(job) / "record.json").write_bytes(record)
    result = run_cli(["hddm.report", str(tmp_path)], cwd=CONF.parent, env_extra=ENV)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "2 jobs: 0 done, 0 failed, 2 running, stale or unreadable" in result.stdout
    assert (tmp_path / "report" / "report.md").read_text().count("unreadable") == 2


def test_a_sweep_counts_a_job_its_validation_refused(members, tmp_path):
    experts = ",".join(str(e) for e in bundles(members, tmp_path))
    result = run_cli(
        ["hddm.sample", "-m", f"ensemble.experts=[{experts}]", "routing=threshold", "routing.tau=0.5,1.5", "n=2"]
        + ["steps=2", "prompt=x", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=CONF.parent,
        env_extra=ENV,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "routing.tau=1.5 is out of range" in result.stderr
    assert "2 jobs, 1 done (0 skipped as already done), 1 failed" in result.stdout
