"""hddm.convert_dit against a faithful small facebookresearch/DiT (same key names, shapes and forward)."""

import argparse
import json
from dataclasses import asdict

import pytest
import torch
from conftest import REPO, run_cli

from hddm.convert_dit import (
    REFERENCE_TIMESTEP,
    convert_dit_state_dict,
    init_manifest,
    load_dit_checkpoint,
    save_init,
    transferred_keys,
)
from hddm.errors import HddmError
from hddm.inits import apply_init, load_init
from hddm.models.dit import DIT_SIZES, DiT, DiTConfig, sincos_2d
from hddm.models.reference_dit import ReferenceDiT, dit_pos_embed

SMALL = DiTConfig(hidden_size=32, depth=2, num_heads=4, patch_size=2)
CHANNELS, IMAGE, TEXT_DIM, CLASSES = 3, 8, 12, 5


def random_dit(size=SMALL, image=IMAGE, channels=CHANNELS, classes=CLASSES, seed=0) -> ReferenceDiT:
    """A DiT with non-zero random weights everywhere (a trained DiT's adaLN layers are far from their zero init)."""
    torch.manual_seed(seed)
    model = ReferenceDiT(size, image, channels, classes)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name != "pos_embed":
                parameter.normal_(std=0.1)
    return model.eval()


def convert(reference, size=SMALL, channels=CHANNELS, image=IMAGE, classes=CLASSES):
    return convert_dit_state_dict(reference.state_dict(), size, channels, image, TEXT_DIM, seed=0, num_classes=classes)


# ------------------------------------------------------------------------------------------------------------------


def test_every_part_lands_where_it_should():
    reference = random_dit()
    source, converted = reference.state_dict(), convert(reference)
    expected = DiT(SMALL, CHANNELS, IMAGE, TEXT_DIM).state_dict()
    assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in expected.items()}
    assert all(value.dtype == torch.float32 for value in converted.values())

    for key in transferred_keys(SMALL.depth):
        assert torch.equal(converted[key], source[key]), key
    p, c = SMALL.patch_size, CHANNELS
    dit_out = source["final_layer.linear.weight"].view(p, p, 2 * c, -1)  # (p, q, channel) per patch, channel fastest
    torch.testing.assert_close(
        converted["final_layer.linear.weight"], dit_out[:, :, :c].reshape(p * p * c, -1), rtol=0, atol=0
    )
    dit_bias = source["final_layer.linear.bias"].view(p, p, 2 * c)
    torch.testing.assert_close(converted["final_layer.linear.bias"], dit_bias[:, :, :c].reshape(-1), rtol=0, atol=0)

    with torch.no_grad():
        t_emb = reference.t_embedder(torch.tensor([float(REFERENCE_TIMESTEP)]))
        c_null = t_emb + reference.y_embedder(torch.tensor([CLASSES]))
        for i, block in enumerate(reference.blocks):
            torch.testing.assert_close(
                converted[f"blocks.{i}.scale_shift_table"],
                block.adaLN_modulation(c_null).view(6, -1),
                atol=1e-6,
                rtol=1e-5,
            )
        final = reference.final_layer.adaLN_modulation(c_null).view(2, -1) - t_emb
    torch.testing.assert_close(converted["final_layer.scale_shift_table"], final, atol=1e-6, rtol=1e-5)

    for i in range(SMALL.depth):
        assert not converted[f"blocks.{i}.cross_attn.proj.weight"].any()
        assert not converted[f"blocks.{i}.cross_attn.proj.bias"].any()
    for layer in ("t_block.1", "y_embedder.fc1", "y_embedder.fc2"):
        assert not converted[f"{layer}.bias"].any()
        assert converted[f"{layer}.weight"].std().item() == pytest.approx(0.02, rel=0.2), layer


def test_converted_model_reproduces_dit_epsilon_at_the_reference_timestep():
    reference = random_dit()
    model = DiT(SMALL, CHANNELS, IMAGE, TEXT_DIM).eval()
    model.load_state_dict(convert(reference))
    with torch.no_grad():
        model.t_block[1].weight.zero_()  # AdaLN-Single's global output at zero: only the tables modulate
        model.t_block[1].bias.zero_()
        x = torch.randn(3, CHANNELS, IMAGE, IMAGE)
        t = torch.full((3,), float(REFERENCE_TIMESTEP))
        dit_epsilon = reference(x, t, torch.full((3,), CLASSES))[:, :CHANNELS]
        null_text = torch.zeros(3, 4, TEXT_DIM)
        hddm_epsilon = model(x, t, null_text, torch.ones(3, 4, dtype=torch.bool))
    assert dit_epsilon.abs().mean() > 0.1  # a meaningful, non-trivial output
    torch.testing.assert_close(hddm_epsilon, dit_epsilon, atol=1e-5, rtol=1e-4)


def test_hddm_positional_embedding_is_dits():
    torch.testing.assert_close(sincos_2d(32, 4, 4), torch.from_numpy(dit_pos_embed(32, 4)).float())


def test_unknown_and_missing_keys_are_one_line_errors():
    source = random_dit().state_dict()
    source["extra.weight"] = torch.zeros(1)
    del source["blocks.1.mlp.fc2.bias"]
    with pytest.raises(HddmError) as caught:
        convert_dit_state_dict(source, SMALL, CHANNELS, IMAGE, TEXT_DIM, seed=0, num_classes=CLASSES)
    message = str(caught.value)
    assert "\n" not in message and "extra.weight" in message and "blocks.1.mlp.fc2.bias" in message

    deeper = random_dit(DiTConfig(32, 3, 4, 2)).state_dict()  # a size other than the one asked for
    with pytest.raises(HddmError, match=r"unexpected keys \[blocks\.2\..*model=") as caught:
        convert_dit_state_dict(deeper, SMALL, CHANNELS, IMAGE, TEXT_DIM, seed=0, num_classes=CLASSES)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "wrong, fix",
    [({"in_channels": 4}, "x_embedder.proj.weight"), ({"num_classes": 7}, "y_embedder.embedding_table.weight")],
)
def test_wrong_shapes_are_one_line_errors_naming_the_setting(wrong, fix):
    settings = {"in_channels": CHANNELS, "num_classes": CLASSES, **wrong}
    with pytest.raises(HddmError, match=fix) as caught:
        convert_dit_state_dict(
            random_dit().state_dict(),
            SMALL,
            settings["in_channels"],
            IMAGE,
            TEXT_DIM,
            seed=0,
            num_classes=settings["num_classes"],
        )
    assert "\n" not in str(caught.value) and "in_channels=" in str(caught.value)


class Payload:
    """A custom class in a checkpoint: unpickling it means importing and running its code, so it must be refused."""

    def __init__(self):
        self.weights = torch.ones(2)


def test_source_is_read_weights_only(tmp_path, monkeypatch):
    plain = tmp_path / "plain.pt"
    torch.save(random_dit().state_dict(), plain)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(kwargs) or real_load(*args, **kwargs))
    assert set(load_dit_checkpoint(plain)) == set(random_dit().state_dict())
    assert calls == [{"map_location": "cpu", "weights_only": True}]

    hostile = tmp_path / "hostile.pt"
    torch.save({"model": Payload()}, hostile)
    with pytest.raises(HddmError, match="weights-only") as caught:
        load_dit_checkpoint(hostile)
    assert "\n" not in str(caught.value)


def test_dit_training_checkpoint_is_unwrapped_preferring_ema(tmp_path):
    model, ema = random_dit(seed=1).state_dict(), random_dit(seed=2).state_dict()
    path = tmp_path / "0400000.pt"  # what DiT's train.py saves
    torch.save(
        {
            "model": model,
            "ema": ema,
            "opt": {"state": {}, "param_groups": [{"lr": 1e-4}]},
            "args": argparse.Namespace(model="DiT-XL/2", image_size=256, num_classes=1000),
        },
        path,
    )
    loaded = load_dit_checkpoint(path)
    assert all(torch.equal(loaded[key], ema[key]) for key in ema)


def test_init_round_trip_apply_and_one_line_refusals(tmp_path):
    reference = random_dit()
    source = tmp_path / "dit.pt"
    torch.save(reference.state_dict(), source)
    converted = convert(reference)
    manifest = init_manifest(source, "small", SMALL, CHANNELS, IMAGE, TEXT_DIM, CLASSES, seed=0)
    directory = save_init(tmp_path / "init", converted, manifest)

    state, loaded_manifest = load_init(directory)
    assert loaded_manifest["format"] == "hddm.init/1" and loaded_manifest["reference_timestep"] == 500
    assert loaded_manifest["source"]["file"] == "dit.pt" and len(loaded_manifest["source"]["sha256"]) == 64
    assert all(torch.equal(state[key], converted[key]) for key in converted)

    model = DiT(SMALL, CHANNELS, IMAGE, TEXT_DIM)
    assert apply_init(model, directory)["model"]["hidden_size"] == SMALL.hidden_size
    assert all(torch.equal(model.state_dict()[key], converted[key]) for key in converted)

    mismatched = [
        (DiT(DiTConfig(32, 3, 4, 2), CHANNELS, IMAGE, TEXT_DIM), "model=small"),
        (DiT(SMALL, 1, IMAGE, TEXT_DIM), "in_channels=1"),
        (DiT(SMALL, CHANNELS, IMAGE, 16), "text_dim=16"),
    ]
    for other, fix in mismatched:
        with pytest.raises(HddmError, match=fix) as caught:
            apply_init(other, directory)
        assert "\n" not in str(caught.value)

    (directory / "model.safetensors").write_bytes((directory / "model.safetensors").read_bytes()[:-1] + b" ")
    with pytest.raises(HddmError, match="sha256"):
        load_init(directory)


def test_cli_converts_end_to_end_and_fails_in_one_line(tmp_path):
    tiny = DIT_SIZES["tiny"]
    source = tmp_path / "DiT-tiny-28.pt"
    torch.save(random_dit(tiny, image=28, channels=1, classes=10).state_dict(), source)
    out = tmp_path / "init"
    common = [
        "hddm.convert_dit",
        "model=tiny",
        "in_channels=1",
        "image_size=28",
        "text_dim=384",
        "num_classes=10",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    done = run_cli([*common, f"source={source}", f"out={out}"], cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    state, manifest = load_init(out)
    assert manifest["model"] == {"name": "tiny", **asdict(tiny)} and manifest["text_dim"] == 384
    assert json.loads((out / "manifest.json").read_text())["weights_sha256"] == manifest["weights_sha256"]
    apply_init(DiT(tiny, 1, 28, 384), out)

    missing = run_cli([*common, f"source={tmp_path / 'nope.pt'}", f"out={tmp_path / 'never'}"], cwd=REPO)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [missing.stderr.strip()]
    assert missing.stderr.startswith("hddm: error: source checkpoint") and "nope.pt" in missing.stderr
    assert not (tmp_path / "never").exists()
