"""The prepared GPU check runs end to end in its CPU dry-run mode, so it cannot rot between GPU loans."""

import json
import runpy
import sys

from conftest import REPO


def test_gpu_check_dry_run_writes_every_part(tmp_path, monkeypatch):
    check = runpy.run_path(str(REPO / "bench" / "gpu" / "check.py"), run_name="gpu_check")
    monkeypatch.setattr(sys, "argv", ["check.py"])
    assert check["main"](["--dry-run", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check_dry.json").read_text())
    parts = {row["part"] for row in report["rows"]}
    assert parts == {"correctness", "training", "sampling", "embedded"}
    correctness = [row for row in report["rows"] if row["part"] == "correctness"]
    assert len(correctness) == 6 and all(row["finite"] for row in correctness)
    assert all(row["dtype"] == "torch.float32" for row in correctness if "dtype" in row)  # conversion in fp32
    assert all(row.get("grad_rel_err", 0) < 0.05 and row.get("out_rel_err", 0) < 0.1 for row in correctness)
    peer = next(row for row in report["rows"] if row["case"].endswith(" peer"))
    assert peer["peer_max_abs_diff_fp32"] < 1e-5  # the peer computes the same function
    assert (tmp_path / "gpu_check_dry.md").read_text().count("## ") == 4
