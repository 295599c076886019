"""experiments/job_pool.py: the longest chain starts first, and a failure is reported at once, skips what needs it
and lets the rest finish."""

import sys

import pytest
from conftest import REPO, load_script


@pytest.fixture(scope="module")
def job_pool():
    return load_script(REPO / "experiments" / "job_pool.py", "job_pool")


def test_longest_chain_first(job_pool):
    Job = job_pool.Job
    jobs = [
        Job("train", [], [], 10),
        Job("short", [], [], 1),
        Job("eval", [], ["train"], 2),
        Job("table", [], ["eval"], 0.1),
    ]
    chain = job_pool.critical_minutes(jobs)
    assert chain["train"] == pytest.approx(12.1) and chain["train"] > chain["eval"] > chain["short"] > chain["table"]


def test_a_selection_pulls_in_what_it_needs_only(job_pool):
    Job = job_pool.Job
    jobs = {j.name: j for j in [Job("train/a", []), Job("train/b", []), Job("eval/x", [], ["train/a"])]}
    assert {j.name for j in job_pool.needed(jobs, ["eval/*"])} == {"eval/x", "train/a"}
    assert {j.name for j in job_pool.needed(jobs, ["train/b"])} == {"train/b"}


def test_a_failure_skips_what_needs_it_and_the_rest_goes_on(job_pool, tmp_path, capsys):
    marker = tmp_path / "ran"
    fail, touch = [sys.executable, "-c", "raise SystemExit(3)"], [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    jobs = [job_pool.Job("a", fail), job_pool.Job("b", touch, needs=["a"]), job_pool.Job("c", touch)]
    assert job_pool.run(jobs, 2, tmp_path) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and ": a" in out and "skipped (needs a failed job): b" in out and "): c" in out
    assert marker.is_file() and (tmp_path / "a.log").is_file()
