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


def test_constants_get_no_plot_and_recorded_uncertainty_goes_with_its_metric(tmp_path, monkeypatch):
    import hddm.reporting.plots as plots

    drawn = {}  # series label -> points; with one swept setting the label is the metric
    real_draw = plots.draw

    def spy(axes, groups):
        drawn.update(groups)
        real_draw(axes, groups)

    monkeypatch.setattr(plots, "draw", spy)
    for i, tau in enumerate([0.2, 0.5]):
        fake_job(
            tmp_path,
            str(i),
            [f"routing.tau={tau}"],
            {
                "fid": 10 + tau,
                "diversity_lpips": {"mean": tau, "std": 0.05, "prompts": 8, "distance": {"name": "lpips"}},
                "prompt_adherence": {"accuracy": 0.9, "n": 40},  # the same in both jobs
            },
        )
    summary = report(tmp_path)
    assert summary["metrics"] == [
        "diversity_lpips.mean",
        "diversity_lpips.prompts",
        "fid",
        "prompt_adherence.accuracy",
        "prompt_adherence.n",
    ]
    assert summary["plotted"] == ["diversity_lpips.mean", "fid"]
    assert summary["constant"] == ["diversity_lpips.prompts", "prompt_adherence.accuracy", "prompt_adherence.n"]
    assert sorted(p.split("/")[-1] for p in summary["plots"]) == [
        "diversity_lpips.mean_vs_routing.tau.png",
        "fid_vs_routing.tau.png",
    ]
    assert all((tmp_path / "report" / p.split("/")[-1]).is_file() for p in summary["plots"])
    assert sorted(drawn) == ["diversity_lpips.mean", "fid"]
    assert all(p.uncertainty is None for p in drawn["fid"])  # fid records no interval: no error bars
    diversity = drawn["diversity_lpips.mean"]
    assert [(p.x, p.uncertainty.low, p.uncertainty.high) for p in diversity] == [
        (0.2, pytest.approx(0.15), pytest.approx(0.25)),
        (0.5, pytest.approx(0.45), pytest.approx(0.55)),
    ]
    rows = list(csv.reader(open(summary["csv"])))
    assert rows[0][:4] == ["routing.tau", "state", "diversity_lpips.mean", "diversity_lpips.std"]
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| 0.2 | done | 0.2 ± 0.05 | 8 | 10.2 | 0.9 | 40 |" in table
