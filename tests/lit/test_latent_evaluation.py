"""Real-scale evaluation path at toy size: latent experts, samples decoded by a (tiny, random) SD-layout VAE,
FID against a reference folder of real images streamed from disk."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from conftest import save_tiny_vae

from hddm.bundles import save_expert_bundle
from hddm.config import TextConfig
from hddm.errors import HddmError
from hddm.lit.data import prompt_embeddings, text_encoder_id
from hddm.models.dit import DiT, get_dit_size

LATENT = {"name": "latents", "space": "latent", "channels": 4, "image_size": 8, "scale_factor": 1.0}


def latent_expert(folder, objective, cache_dir, seed):
    """An (untrained) latent expert bundle with the manifest hddm.train writes."""
    text = TextConfig(name="minilm", kwargs={"max_length": 16})
    null_text, null_mask = prompt_embeddings([""], text, str(cache_dir))
    size = get_dit_size("tiny")
    torch.manual_seed(seed)
    network = DiT(size, LATENT["channels"], LATENT["image_size"], null_text.shape[-1])
    prediction, schedule = ("epsilon", "cosine") if objective == "ddpm" else ("velocity", "linear")
    manifest = {
        "objective": objective,
        "prediction": prediction,
        "schedule": schedule,
        "time_scale": 999.0,
        "cluster": seed,
        "partition": {"name": "toy", "method": "file", "num_clusters": 2, "sha256": "0" * 64},
        "data": LATENT,
        "text_encoder": text_encoder_id(text),
        "text_dim": null_text.shape[-1],
        "text": {"name": text.name, "kwargs": text.kwargs},
        "model": {"name": "tiny", **asdict(size)},
    }
    state = {
        **{f"model.{k}": v for k, v in network.state_dict().items()},
        "null_text": null_text[0],
        "null_mask": null_mask[0],
    }
    return save_expert_bundle(folder, state, manifest)


@pytest.fixture(scope="module")
def latent_members(tmp_path_factory, cache_dir):
    from PIL import Image

    root = tmp_path_factory.mktemp("latent")
    experts = [latent_expert(root / name, name, cache_dir, seed) for seed, name in enumerate(("fm", "ddpm"))]
    rng = np.random.default_rng(0)
    (root / "real").mkdir()
    with open(root / "real" / "captions.tsv", "w") as handle:
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(root / "real" / f"{i}.png")
            handle.write(f"{i}.png\ta red square\n")
    return {"experts": f"[{experts[0]},{experts[1]}]", "vae": save_tiny_vae(root / "vae"), "real": root / "real"}


def overrides(members, *extra):
    return [
        f"ensemble.experts={members['experts']}",
        "routing=threshold",
        "n=3",
        "steps=2",
        "batch_size=2",
        "prompt=a red square",
        *extra,
    ]


def test_latent_ensemble_is_decoded_and_scored_against_a_reference_folder(latent_members, compose, tmp_path):
    from hddm.evaluate import evaluate

    cfg = compose(
        overrides(
            latent_members,
            f"vae.pretrained={latent_members['vae']}",
            "metrics=[fid]",
            f"metrics.fid.reference_path={latent_members['real']}",
            "metrics.fid.reference_resolution=64",
            "metrics.fid.reference_max_items=5",
            "trainer.enable_progress_bar=false",
        ),
        config_name="evaluate",
    )
    record = evaluate(cfg, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["metrics"]["fid"] > 0 and saved["samples"]["n"] == 3
    reference = saved["reference_stats"]["fid"]
    assert reference["count"] == 5 and reference["dataset"] == "image folder" and reference["resolution"] == 64
    assert saved["implementations"]["decoder"]["scale_factor"] == 0.18215
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").mode == "RGB"  # decoded pictures, not latents
    again = evaluate(cfg, tmp_path / "again")  # the reference statistics now come from the cache
    assert again["metrics"] == record["metrics"] and not again["reference_stats"]["fid"]["computed_now"]


def test_decoder_undoes_the_training_scale(latent_members):
    from hddm.data.latents import VAEDecoder, load_vae

    decoder = VAEDecoder(str(latent_members["vae"]), torch.device("cpu"), "float32", 0.18215, 2.0)
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    images = decoder(latents)
    expected = load_vae(str(latent_members["vae"]), torch.device("cpu")).decode(latents / (0.18215 * 2.0)).sample
    assert images.shape == (2, 3, 64, 64) and torch.allclose(images, expected.clamp(-1, 1))


def test_latent_ensembles_need_a_vae_and_a_reference(latent_members, compose, tmp_path):
    from hddm.config import to_typed
    from hddm.lit.evaluator import EnsembleEvaluator
    from hddm.sample import sample

    with pytest.raises(HddmError, match="set vae.pretrained="):
        EnsembleEvaluator(to_typed(compose(overrides(latent_members, "metrics=[diversity]"), config_name="evaluate")))
    evaluator = EnsembleEvaluator(
        to_typed(
            compose(
                overrides(latent_members, f"vae.pretrained={latent_members['vae']}", "metrics=[fid]"),
                config_name="evaluate",
            )
        )
    )
    with pytest.raises(HddmError, match="reference_path"):
        evaluator.prepare()
    record = sample(compose(overrides(latent_members), config_name="sample"), tmp_path / "raw")  # latents kept, no grid
    assert record["outputs"]["grid"] is None
    assert torch.load(tmp_path / "raw" / "samples.pt", weights_only=True).shape == (3, 4, 8, 8)
