"""The training entry point end to end on the embedded default (tiny sizes, a few steps)."""

import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO, run_cli

from hddm.bundles import load_expert_bundle
from hddm.errors import HddmError
from hddm.io import sha256_file
from hddm.lit.expert import ExpertModule
from hddm.train import train

FAST = [
    "data.batch_size=16",
    "sample.n=4",
    "sample.steps=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


@pytest.mark.parametrize("objective", ["ddpm", "fm"])
def test_fast_dev_run_each_objective(compose, tmp_path, objective):
    result = train(compose([f"objective={objective}", "cluster=3", "trainer=debug", *FAST]), tmp_path)
    state, manifest = load_expert_bundle(result["bundle"])
    assert manifest["objective"] == objective and manifest["cluster"] == 3
    assert manifest["prediction"] == {"ddpm": "epsilon", "fm": "velocity"}[objective]
    assert manifest["schedule"] == {"ddpm": "cosine", "fm": "linear"}[objective]
    assert manifest["time_scale"] == 999.0 and manifest["text_encoder"].startswith("minilm")
    assert manifest["data"]["space"] == "pixel" and manifest["data"]["image_size"] == 28
    assert "null_text" in state and (tmp_path / "samples.png").stat().st_size > 0


def test_loss_decreases_on_a_fixed_batch(compose, cache_dir):
    from dataclasses import asdict

    from hddm.config import validate_train_config
    from hddm.lit.data import ExpertDataModule
    from hddm.models.dit import get_dit_size

    cfg = validate_train_config(compose(["objective=fm", "data.batch_size=32"]))
    data = ExpertDataModule(cfg.data, cfg.partition, cfg.text, 1, 0)
    data.prepare_data()
    data.setup()
    batch = next(iter(data.val_dataloader()))
    null_text, null_mask = data.null_text()
    torch.manual_seed(0)
    module = ExpertModule(
        asdict(get_dit_size("tiny")), 1, 28, 384, null_text, null_mask, "velocity", "linear", lr=1e-3, warmup_steps=1
    )
    optimizer = module.configure_optimizers()["optimizer"]
    losses = []
    for step in range(40):
        loss, _ = module._loss(batch, torch.Generator().manual_seed(step % 4), cfg_dropout=0.1)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
        losses.append(loss.mean().item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses


def final_state(run_dir):
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["global_step"], checkpoint["state_dict"], checkpoint["current_model_state"]


def test_resume_after_sigkill_is_bitwise_identical(cache_dir, tmp_path):
    args = [
        "hddm.train",
        "objective=ddpm",
        "cluster=2",
        "trainer.max_steps=40",
        "trainer.val_check_interval=20",
        "checkpoint.every_n_steps=5",
        "optim.warmup_steps=10",
        *FAST,
    ]
    reference = run_cli([*args, f"hydra.run.dir={tmp_path / 'straight'}"], cwd=REPO)
    assert reference.returncode == 0, reference.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    command = [sys.executable, "-m", *args, f"hydra.run.dir={killed_dir}"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed_dir / "checkpoints" / "step0000010.ckpt").exists():
        assert process.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    step_at_kill = final_state(killed_dir)[0]
    assert 5 <= step_at_kill < 40  # last.ckpt may still hold step 5 when step 10 is written

    resumed = run_cli([*args, f"hydra.run.dir={killed_dir}"], cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    step_a, ema_a, live_a = final_state(tmp_path / "straight")
    step_b, ema_b, live_b = final_state(killed_dir)
    assert step_a == step_b == 40
    for name in live_a:
        assert torch.equal(live_a[name], live_b[name]), name
        assert torch.equal(ema_a[name], ema_b[name]), name
    assert not torch.equal(ema_a["model.blocks.0.mlp.fc1.weight"], live_a["model.blocks.0.mlp.fc1.weight"])


def test_cluster_not_in_assignment_file(compose, tmp_path):
    with pytest.raises(HddmError, match=r"cluster=0\.\.9"):
        train(compose(["cluster=12", "trainer=debug", *FAST]), tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(compose, tmp_path, monkeypatch):
    original = ExpertModule.forward

    def poisoned(self, x, t, text, mask):
        out = original(self, x, t, text, mask)
        return out * math.nan if self.global_step >= 6 else out

    monkeypatch.setattr(ExpertModule, "forward", poisoned)
    cfg = compose(["trainer.max_steps=20", "checkpoint.every_n_steps=3", "trainer.val_check_interval=100", *FAST])
    with pytest.raises(HddmError, match="non-finite loss at step 6"):
        train(cfg, tmp_path)
    step, ema, live = final_state(tmp_path)
    assert step == 6 and all(torch.isfinite(v).all() for v in live.values() if v.is_floating_point())


def test_cli_errors_are_one_line(cache_dir, tmp_path):
    unknown = run_cli(["hddm.train", "objective=score", f"hydra.run.dir={tmp_path}"], cwd=REPO)
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr and "objective" in unknown.stderr
    bad_cluster = run_cli(["hddm.train", "cluster=99", f"hydra.run.dir={tmp_path}"], cwd=REPO)
    assert bad_cluster.returncode == 2 and "Traceback" not in bad_cluster.stderr
    assert bad_cluster.stderr.strip().splitlines()[-1].startswith("hddm: error: cluster 99")


def test_cli_trains_any_registered_size_with_overridden_fields(cache_dir, tmp_path):
    run = run_cli(
        [
            "hddm.train",
            "model=dit_s2",
            "model.depth=2",
            "trainer.max_steps=1",
            "trainer.val_check_interval=1",
            "trainer.limit_val_batches=1",
            "data.batch_size=4",
            "sample.n=1",
            "sample.steps=1",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((tmp_path / "expert" / "manifest.json").read_text())
    assert (
        manifest["model"]["name"] == "dit_s2"
        and manifest["model"]["depth"] == 2
        and manifest["model"]["hidden_size"] == 384
    )


def test_wandb_logger_runs_offline_and_is_finished(compose, tmp_path):
    import wandb

    train(compose(["logger=wandb", "trainer.max_steps=2", "trainer.val_check_interval=2", *FAST]), tmp_path)
    assert wandb.run is None  # finished, so a multirun's next job starts a fresh run
    assert any((tmp_path / "wandb").glob("offline-run-*"))


def test_training_starts_from_a_converted_init(compose, tmp_path):
    from hddm.convert_dit import init_manifest, save_init
    from hddm.models.dit import DiT, get_dit_size

    torch.manual_seed(5)
    source = DiT(get_dit_size("tiny"), 1, 28, 384)
    fake_checkpoint = tmp_path / "DiT-tiny.pt"
    fake_checkpoint.write_bytes(b"provenance only")
    manifest = init_manifest(fake_checkpoint, "tiny", get_dit_size("tiny"), 1, 28, 384, num_classes=10, seed=0)
    init_dir = save_init(tmp_path / "init", source.state_dict(), manifest)
    steps = ["trainer.val_check_interval=1", "checkpoint.every_n_steps=1", *FAST]
    result = train(compose([f"init={init_dir}", "trainer.max_steps=1", *steps]), tmp_path / "run")
    state, manifest = load_expert_bundle(result["bundle"])
    assert manifest["init"]["weights_sha256"] == sha256_file(init_dir / "model.safetensors")
    resumed = train(compose([f"init={init_dir}", "trainer.max_steps=2", *steps]), tmp_path / "run")
    assert load_expert_bundle(resumed["bundle"])[1]["init"] == manifest["init"]  # a resumed run keeps its record
    with pytest.raises(HddmError, match="belongs to a different run \\(init differ"):  # another start is another run
        train(compose(["trainer.max_steps=3", *steps]), tmp_path / "run")
    # The zero final layer of a fresh DiT passes no gradient to the blocks in the first step: they are the init's.
    assert torch.equal(state["model.blocks.0.attn.qkv.weight"], source.state_dict()["blocks.0.attn.qkv.weight"])
