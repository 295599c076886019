import pytest

from hddm.reporting.uncertainty import uncertainties


def test_a_std_goes_with_its_mean_and_bounds_with_their_estimate():
    found = uncertainties(
        {
            "diversity_lpips.mean": 0.4,
            "diversity_lpips.std": 0.1,
            "diversity_lpips.prompts": 8.0,
            "adherence.estimate": 0.9,
            "adherence.low": 0.85,
            "adherence.high": 0.93,
            "fid": 12.0,
            "fid_sem": 0.5,
            "clip.value": 30.0,
            "clip.ci_low": 29.0,
            "clip.ci_high": 31.5,
        }
    )
    assert sorted(found) == ["adherence.estimate", "clip.value", "diversity_lpips.mean", "fid"]
    spread = found["diversity_lpips.mean"]
    assert (spread.low, spread.high) == pytest.approx((0.3, 0.5)) and spread.text == "± 0.1"
    assert spread.keys == ("diversity_lpips.std",)
    assert found["adherence.estimate"][:3] == (0.85, 0.93, "[0.85, 0.93]")
    assert found["fid"][:2] == (11.5, 12.5) and found["clip.value"][:2] == (29.0, 31.5)


def test_numbers_without_a_value_or_a_partner_carry_no_uncertainty():
    assert uncertainties({"orphan.std": 1.0, "x.low": 0.0, "x.value": 1.0, "prompt_adherence.n": 40.0}) == {}
