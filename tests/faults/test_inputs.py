"""Bad options and OS faults: Hydra's composition errors, a run folder that cannot be created, a full disk, an
offline hub. Each is one `hddm: error:` line naming the fix, exit code 2, no traceback."""

import errno

import pytest
from conftest import CONF, one_error_line, run_cli
from omegaconf import OmegaConf

from hddm.jobs import RunFolderCheck, run_job


@pytest.mark.parametrize(
    "command,override,match",
    [
        ("hddm.sample", "routing=nonexistent", "choose one of full, random_top2, threshold, top1, top2, topk"),
        ("hddm.train", "model=nonexistent", "model=nonexistent is not an option: choose one of"),
        ("hddm.evaluate", "nosuchkey=1", "Key 'nosuchkey' not in"),
        ("hddm.train_router", "optim.lr=[", "no viable alternative"),
    ],
)
def test_composition_errors_are_one_line(tmp_path, command, override, match):
    result = run_cli([command, override, f"hydra.run.dir={tmp_path / 'run'}"], cwd=CONF.parent)
    one_error_line(result, match)
    assert not (tmp_path / "run").exists()


def test_a_run_folder_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "file").write_text("a file where a folder is wanted\n")
    result = run_cli(["hddm.sample", f"hydra.run.dir={tmp_path / 'file' / 'run'}"], cwd=CONF.parent)
    one_error_line(result, "a file stands where a folder is needed")


def test_a_full_disk_is_one_line_and_recorded(tmp_path, capsys):
    def job():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "samples.pt"))

    with pytest.raises(SystemExit) as exit_code:
        run_job(job, tmp_path, OmegaConf.create({"n": 1}))
    assert exit_code.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line == f"hddm: error: {tmp_path / 'samples.pt'}: the disk is full: free space there or write elsewhere " + (
        "(hydra.run.dir=... for a run folder, HDDM_CACHE=... for the caches)"
    )
    assert '"state": "failed"' in (tmp_path / "status.json").read_text()


def test_run_folder_check_exits_with_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_code:
        RunFolderCheck.create(str(tmp_path / "file" / "run"))
    assert exit_code.value.code == 2 and capsys.readouterr().err.count("hddm: error:") == 1


def test_clip_text_offline_is_one_line(tmp_path):
    result = run_cli(
        ["hddm.train", "text=clip", "trainer.max_steps=1", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=CONF.parent,
        env_extra={"HF_HUB_OFFLINE": "1"},
    )
    one_error_line(result, "set text.kwargs.pretrained to a local open_clip weights file")
