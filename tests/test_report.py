import csv
import json

import pytest
import yaml

from hddm.errors import HddmError
from hddm.report import report


def fake_job(sweep, name, overrides, metrics, state="done"):
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / "results.json").write_text(json.dumps({"metrics": metrics, "n": 10}))
    (job / "status.json").write_text(json.dumps({"state": state}))


def test_sweep_becomes_a_table_with_swept_columns_and_plots(tmp_path):
    for i, (tau, routing) in enumerate([(0.2, "top1"), (0.5, "top1"), (0.2, "full"), (0.5, "full")]):
        fake_job(
            tmp_path,
            str(i),
            [f"routing.tau={tau}", f"routing={routing}", "n=10"],
            {"fid": {"value": 10 + tau * 10 + (routing == "full")}, "diversity": {"mean": tau}},
        )
    summary = report(tmp_path)
    assert summary["jobs"] == 4 and summary["columns"] == ["routing", "routing.tau"]  # n=10 is constant: context
    assert summary["metrics"] == ["diversity.mean", "fid.value"]
    rows = list(csv.reader(open(summary["csv"])))
    assert rows[0] == ["routing", "routing.tau", "state", "diversity.mean", "fid.value"]
    assert [float(r[4]) for r in rows[1:]] == [12.0, 15.0, 13.0, 16.0]
    assert len(summary["plots"]) == 4 and all(
        (tmp_path / "report" / p.split("/")[-1]).is_file() for p in summary["plots"]
    )


def test_bad_sweep_folders_are_one_line_errors(tmp_path):
    with pytest.raises(HddmError, match="not a folder"):
        report(tmp_path / "missing")
    with pytest.raises(HddmError, match="no Hydra job folders"):
        report(tmp_path)
    fake_job(tmp_path, "0", ["routing.tau=0.2"], {"fid": 1.0})
    with pytest.raises(HddmError, match="metric 'lpips'"):
        report(tmp_path, metrics=["lpips"])
