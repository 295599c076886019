"""Sweep job folders: named by their overrides, readable, safe as one file name, and unique within a sweep."""

import itertools
import re
import subprocess
import sys

import pytest
from conftest import CONF, REPO

from hddm.sweep_job_names import job_dirname

SAFE = re.compile(r"[A-Za-z0-9._+=,-]+")  # one folder (no slash), nothing a shell or a file system minds


def test_plain_overrides_read_as_short_key_and_value():
    assert job_dirname(["routing.tau=0.2"]) == "tau=0.2"
    assert job_dirname(["routing=top1", "conversion=snr_matched"]) == "conversion=snr_matched_routing=top1"
    assert job_dirname(["metrics=[fid,clip]", "seed=1"]) == "metrics=fid,clip_seed=1"
    assert job_dirname(["data.batch_size=4", "batch_size=8"]) == "batch_size=8_data.batch_size=4"  # same last part
    assert job_dirname([]) == "defaults"


def test_excluded_keys_are_left_out():
    assert job_dirname(["ensemble=demo", "routing.tau=0.5"], exclude_keys=["ensemble"]) == "tau=0.5"
    assert job_dirname(["ensemble=demo"], exclude_keys=["ensemble"]) == "defaults"


def test_odd_values_are_made_safe_go_last_and_carry_a_hash():
    name = job_dirname(["prompt='a handwritten seven'", "ensemble.experts=[runs/a/expert,runs/b/expert]", "n=4"])
    assert re.fullmatch(r"n=4_experts=runs-a-expert-runs-b-expert_prompt=a-handwritten-seven_[0-9a-f]{8}", name)
    assert job_dirname(["prompt='a b'"]) != job_dirname(["prompt=a-b"])  # equal once made safe: the hash differs
    assert job_dirname(["~routing.tau"]) != job_dirname(["routing.tau=deleted"])


def test_long_names_are_cut_with_a_hash_and_stay_unique():
    long_a, long_b = "x=" + "a" * 300, "x=" + "a" * 299 + "b"
    assert len(job_dirname([long_a])) == len(job_dirname([long_b])) == 120
    assert job_dirname([long_a]) != job_dirname([long_b])
    assert job_dirname([long_a]) == job_dirname([long_a])  # the same on every rerun: finished jobs are found again
    assert len(job_dirname([f"metrics.fid.reference_path=/data/{'d' * 200}/images"], limit=80)) <= 80


def test_every_job_of_a_product_sweep_has_its_own_safe_name():
    values = {
        "routing": ["top1", "top2"],
        "conversion": ["paper", "snr_matched"],
        "routing.tau": ["0.2", "0.3", "0.5"],
        "prompt": ["x", "'a b'", "a-b", "'x/y'"],
        "metrics": ["[fid]", "[fid,clip]"],
    }
    jobs = [[f"{key}={value}" for key, value in zip(values, chosen)] for chosen in itertools.product(*values.values())]
    names = [job_dirname(job) for job in jobs]
    assert len(set(names)) == len(jobs) == 96
    assert all(SAFE.fullmatch(name) and len(name) <= 120 for name in names)


@pytest.mark.parametrize("config_name", ["evaluate", "sample", "analyze"])
def test_sampling_commands_name_sweep_jobs_by_their_overrides(compose, config_name):
    import hddm.analyze  # noqa: F401  (registers analyze's schema)

    cfg = compose(["routing=top1", "routing.tau=0.3"], config_name=config_name, return_hydra_config=True)
    assert cfg.hydra.sweep.subdir == "routing=top1_tau=0.3"


def test_a_multirun_makes_one_readable_folder_per_job(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(
        "import hydra\nfrom hydra.core.hydra_config import HydraConfig\nfrom pathlib import Path\n"
        "from hddm.config import register_configs\nregister_configs()\n"
        f"@hydra.main(config_path={str(CONF)!r}, config_name='evaluate', version_base='1.3')\n"
        "def main(cfg):\n    (Path(HydraConfig.get().runtime.output_dir) / 'ran').write_text('')\n"
        "main()\n"
    )
    sweep = tmp_path / "sweep"
    command = [sys.executable, str(app), "-m", "ensemble=demo", "routing=top1,top2", "conversion=paper,snr_matched"]
    result = subprocess.run(
        [*command, "prompt='a seven'", f"hydra.sweep.dir={sweep}"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folders = sorted(path.parent.name for path in sweep.glob("*/ran"))
    assert [re.sub(r"_[0-9a-f]{8}$", "_HASH", name) for name in folders] == [
        f"conversion={conversion}_routing={routing}_prompt=a-seven_HASH"
        for conversion in ("paper", "snr_matched")
        for routing in ("top1", "top2")
    ]
