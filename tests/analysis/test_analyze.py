"""`python -m hddm.analyze` end to end on the toy two-expert ensemble of tests/test_pipeline.py."""

import json

import pytest

from hddm.analyze import analyze
from hddm.errors import HddmError

REFINING = ("analysis=refine", "analysis=rescue", "analysis=switching")  # the analyses with an N of N vs 2N steps


def run_analysis(members, tmp_path, *overrides):  # noqa: F811
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    short = ["analysis.refine_steps=2"] if set(REFINING) & set(overrides) else []
    experts = f"[{members / 'fm0' / 'expert'},{members / 'ddpm1' / 'expert'}]"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "analyze",
            [
                f"ensemble.experts={experts}",
                f"ensemble.router={members / 'router' / 'router'}",
                "n=3",
                "steps=4",
                "batch_size=2",
                *short,
                'prompt="a small drawing"',
                *overrides,
            ],
        )  # names no digit: no classifier to train
    return analyze(cfg, tmp_path)


def test_refine_writes_its_outputs_and_angles_need_three_experts(members, tmp_path):  # noqa: F811
    result = run_analysis(members, tmp_path, "analysis=refine", "analysis.strategies=[top2,full]")
    assert set(result["per_strategy"]) == {"top2", "full"} and result["tau_refine"] >= 0
    for key in ("json", "markdown", "refine"):
        assert (tmp_path / result["outputs"][key].split("/")[-1]).is_file()
    assert json.loads((tmp_path / "refine.json").read_text())["expert_evaluations"] == result["expert_evaluations"] > 0
    with pytest.raises(HddmError, match="at least 3 experts"):
        run_analysis(members, tmp_path, "analysis=angular_deviation")


def test_sensitivity_decomposition_and_switching_run_on_a_real_ensemble(members, tmp_path):  # noqa: F811
    result = run_analysis(
        members,
        tmp_path,
        "analysis=sensitivity",
        "analysis.power_iterations=2",
        "analysis.jacobian_every=2",
        "analysis.strategies=[top1,full]",
    )
    full = result["per_strategy"]["full"]
    assert full["L_eff_full"]["mean"] > 0 and full["at_t_0.5"]["router"]["mean"] > 0
    assert result["per_strategy"]["top1"]["at_t_0.5"]["router"]["mean"] == 0  # hard Top-1 weights are locally constant
    switching = run_analysis(members, tmp_path / "switching", "analysis=switching")
    assert set(switching["predictors"]) == {"min_margin_p", "min_margin_logit", "max_gap", "S_eff", "S_int"}


def test_unknown_analysis_is_a_one_line_error(members, tmp_path):  # noqa: F811
    with pytest.raises(HddmError, match="analysis=<one of"):
        run_analysis(members, tmp_path, "analysis.name=nope")


def test_an_option_of_another_analysis_is_refused(members, tmp_path):  # noqa: F811
    from hydra.errors import HydraException

    with pytest.raises(HydraException, match="Could not override 'analysis.power_iterations'") as error:
        run_analysis(members, tmp_path, "analysis=cluster_rank", "analysis.power_iterations=2")
    assert "not in 'ClusterRankConfig'" in str(error.value.__cause__)
