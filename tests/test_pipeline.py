"""The heterogeneous pipeline end to end at toy scale: two experts (DDPM + FM), a router, routed sampling."""

import json

import pytest
import torch
from hydra.errors import HydraException

from hddm.errors import HddmError
from hddm.sample import sample


def run_sample(members, tmp_path, *overrides):
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    experts = f"[{members / 'fm0' / 'expert'},{members / 'ddpm1' / 'expert'}]"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "sample",
            [
                f"ensemble.experts={experts}",
                f"ensemble.router={members / 'router' / 'router'}",
                "n=5",
                "steps=2",
                "batch_size=3",
                'prompt="a handwritten digit four"',
                *overrides,
            ],
        )
    return sample(cfg, tmp_path)


@pytest.mark.parametrize("routing", ["top1", "top2", "full", "threshold", "random_top2"])
@pytest.mark.parametrize("conversion", ["paper", "snr_matched"])
def test_every_routing_and_conversion_samples(members, tmp_path, routing, conversion):
    record = run_sample(members, tmp_path, f"routing={routing}", f"conversion={conversion}")
    images = torch.load(tmp_path / "samples.pt", weights_only=True)
    assert images.shape == (5, 1, 28, 28) and torch.isfinite(images).all()
    saved = json.loads((tmp_path / "record.json").read_text())
    assert saved["settings"]["routing"]["strategy"] == record["settings"]["routing"]["strategy"]
    shares = saved["usage"]["share_of_steps"]
    assert set(shares) == {"c0_fm", "c1_ddpm"}
    if routing in ("top1", "threshold"):
        assert sum(shares.values()) == pytest.approx(1.0)  # exactly one expert per sample and step
    if routing == "full":
        assert shares == {"c0_fm": 1.0, "c1_ddpm": 1.0}


def test_sampling_is_deterministic_per_seed(members, tmp_path):
    run_sample(members, tmp_path / "a", "seed=3")
    run_sample(members, tmp_path / "b", "seed=3")
    assert torch.equal(torch.load(tmp_path / "a" / "samples.pt"), torch.load(tmp_path / "b" / "samples.pt"))


def test_tampered_bundle_is_refused(members, tmp_path):
    import shutil

    copy = tmp_path / "expert"
    shutil.copytree(members / "fm0" / "expert", copy)
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(weights))
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "sample",
            [
                f"ensemble.experts=[{copy}]",
                "routing=top1",
                "n=1",
                "steps=1",
                "prompt=x",
                f"ensemble.router={members / 'router' / 'router'}",
            ],
        )
    with pytest.raises(HddmError, match="sha256"):
        sample(cfg, tmp_path / "out")


def test_mismatched_members_are_refused(members, tmp_path):
    from hddm.ensemble.members import check_compatible, load_expert, load_router

    fm, ddpm = load_expert(members / "fm0" / "expert"), load_expert(members / "ddpm1" / "expert")
    ddpm.manifest["data"]["image_size"] = 32
    with pytest.raises(HddmError, match="data.image_size"):
        check_compatible([fm, ddpm], None)
    _, router = load_router(members / "router" / "router")
    router["partition"]["sha256"] = "0" * 64
    with pytest.raises(HddmError, match="partition"):
        check_compatible([fm], router)


def test_native_ddim_sampler_of_a_ddpm_expert(members):
    from hddm.ensemble.guidance import sample_expert
    from hddm.ensemble.members import load_expert

    ddpm, fm = load_expert(members / "ddpm1" / "expert"), load_expert(members / "fm0" / "expert")
    text, mask = ddpm.null_text.expand(3, *ddpm.null_text.shape), ddpm.null_mask.expand(3, *ddpm.null_mask.shape)
    noise = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    first = sample_expert(ddpm, text, mask, noise, steps=3, solver="ddim")
    assert first.shape == noise.shape and torch.isfinite(first).all()
    assert torch.equal(first, sample_expert(ddpm, text, mask, noise, steps=3, solver="ddim"))
    assert not torch.allclose(first, sample_expert(ddpm, text, mask, noise, steps=3, solver="euler"))
    with pytest.raises(HddmError, match="solver=ddim|ancestral are the native samplers of DDPM"):
        sample_expert(fm, text, mask, noise, steps=3, solver="ddim")


def test_ddim_solver_samples_a_lone_ddpm_expert_and_refuses_ensembles(members, tmp_path):
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "sample",
            [
                f"ensemble.experts=[{members / 'ddpm1' / 'expert'}]",
                "solver=ddim",
                "routing=top1",
                "n=3",
                "steps=2",
                "batch_size=2",
                "prompt=x",
            ],
        )  # no router: DDIM does not route
    record = sample(cfg, tmp_path / "ddim")
    images = torch.load(tmp_path / "ddim" / "samples.pt", weights_only=True)
    assert images.shape == (3, 1, 28, 28) and torch.isfinite(images).all()
    assert record["usage"]["share_of_steps"] == {"c1_ddpm": 1.0}
    with pytest.raises(HddmError, match="exactly one DDPM expert"):
        run_sample(members, tmp_path / "two", "solver=ddim")
    with pytest.raises(HydraException, match="solver=rk4"):  # refused while composing (hddm.choices.Solver)
        run_sample(members, tmp_path / "bad", "solver=rk4")


def test_ancestral_solver_is_stochastic_per_sample_and_independent_of_batching(members, tmp_path):
    from conftest import CONF
    from hydra import compose, initialize_config_dir

    def drawn(name, *overrides):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                "sample",
                [f"ensemble.experts=[{members / 'ddpm1' / 'expert'}]", "n=3", "steps=3", "prompt=x", *overrides],
            )
        sample(cfg, tmp_path / name)
        return torch.load(tmp_path / name / "samples.pt", weights_only=True)

    one_batch = drawn("a", "solver=ancestral", "batch_size=3")
    two_batches = drawn("b", "solver=ancestral", "batch_size=2")
    assert torch.isfinite(one_batch).all() and torch.equal(one_batch, two_batches)
    assert not torch.equal(one_batch, drawn("c", "solver=ancestral", "seed=1"))
    assert not torch.allclose(one_batch, drawn("d", "solver=ddim"))
