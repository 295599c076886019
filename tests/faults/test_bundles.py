"""Bad bundles and ensembles, built from scratch as a careless or hostile user would: each launch ends in exactly one
`hddm: error:` line, exit code 2, no traceback, and every file that existed before is byte-identical."""

import json
import shutil

import pytest
import torch
from conftest import one_error_line, sample_quickly, snapshot
from safetensors.torch import load_file

from hddm.bundles import DIGEST, manifest_digest
from hddm.io import save_safetensors, sha256_file


def copy(members, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(members / name / "expert", target)
    return target


def forge(bundle, weights=None, **fields):
    """Rewrite a bundle consistently, weights sha and manifest digest included: what only the cross-checks catch."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    if weights is not None:
        save_safetensors(bundle / "model.safetensors", weights)
        manifest["weights_sha256"] = sha256_file(bundle / "model.safetensors")
    manifest.update(fields)
    manifest[DIGEST] = manifest_digest(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def refused(tmp_path, experts, match, *overrides):
    """A launch into a new run folder that already holds a file of the user's."""
    run_dir = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("a file the user keeps here\n")
    before = snapshot(tmp_path)
    one_error_line(sample_quickly(run_dir, experts, *overrides), match)
    assert all(path.read_bytes() == data for path, data in before.items())


def test_an_edited_manifest_is_refused(members, tmp_path):
    fm = copy(members, tmp_path, "fm0")
    manifest = json.loads((fm / "manifest.json").read_text())
    manifest["schedule"] = "cosine"  # an FM expert that claims the cosine path: it would sample, wrongly
    (fm / "manifest.json").write_text(json.dumps(manifest))
    refused(tmp_path, [fm, copy(members, tmp_path, "ddpm1")], "was edited after export")


def test_nan_weights_are_refused_even_with_a_consistent_manifest(members, tmp_path):
    fm = copy(members, tmp_path, "fm0")
    weights = load_file(str(fm / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.is_floating_point() and k.startswith("model."))
    weights[name] = torch.full_like(weights[name], float("nan"))
    forge(fm, weights=weights)
    refused(tmp_path, [fm, copy(members, tmp_path, "ddpm1")], "NaN or infinite weights")


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"objective": "ddpm"}, "is no objective hddm trains"),  # FM weights relabelled DDPM, prediction kept
        ({"cluster": -1}, "is not one of its partition's"),
        ({"time_scale": 0}, "must be a positive number"),
    ],
)
def test_contradictory_manifest_fields_are_refused(members, tmp_path, fields, match):
    fm = copy(members, tmp_path, "fm0")
    forge(fm, **fields)
    refused(tmp_path, [fm, copy(members, tmp_path, "ddpm1")], match)


def test_experts_of_different_partitions_listed_twice_or_none_are_refused(members, tmp_path):
    fm, ddpm = copy(members, tmp_path, "fm0"), copy(members, tmp_path, "ddpm1")
    refused(tmp_path, [], "ensemble.experts is empty")
    refused(tmp_path, [fm, fm], "the same expert (the same weights) twice")
    partition = json.loads((ddpm / "manifest.json").read_text())["partition"]
    forge(ddpm, partition={**partition, "sha256": "0" * 64})
    refused(tmp_path, [fm, ddpm], "different partitions")


@pytest.mark.parametrize("damage", ["truncate", "empty_manifest", "pickle"])
def test_damaged_files_are_refused(members, tmp_path, damage):
    fm = copy(members, tmp_path, "fm0")
    if damage == "truncate":
        data = (fm / "model.safetensors").read_bytes()
        (fm / "model.safetensors").write_bytes(data[: len(data) // 2])
        match = "does not match the sha256"
    elif damage == "empty_manifest":
        (fm / "manifest.json").write_text("")
        match = "is not valid JSON"
    else:  # a pickle where the weights belong, with a manifest that vouches for it: never unpickled
        torch.save({"model.x": torch.zeros(1)}, fm / "model.safetensors")
        forge(fm, weights_sha256=sha256_file(fm / "model.safetensors"))
        match = "cannot be read as safetensors"
    refused(tmp_path, [fm, copy(members, tmp_path, "ddpm1")], match)


def test_missing_manifest_keys_and_tensors_are_refused(members, tmp_path):
    fm = copy(members, tmp_path, "fm0")
    manifest = json.loads((fm / "manifest.json").read_text())
    del manifest["objective"]
    manifest[DIGEST] = manifest_digest(manifest)
    (fm / "manifest.json").write_text(json.dumps(manifest))
    refused(tmp_path, [fm, copy(members, tmp_path, "ddpm1")], "lacks objective")

    second = tmp_path / "second"
    second.mkdir()
    fm = copy(members, second, "fm0")
    weights = load_file(str(fm / "model.safetensors"))
    del weights["null_text"]
    forge(fm, weights=weights)
    refused(second, [fm, copy(members, second, "ddpm1")], "lacks null_text")


def test_a_missing_cuda_device_is_refused(members, tmp_path):
    experts = [copy(members, tmp_path, "fm0"), copy(members, tmp_path, "ddpm1")]
    refused(tmp_path, experts, "device=cuda:99 but this machine has", "device=cuda:99")


def test_a_router_trained_on_another_noising_is_refused(members, tmp_path):
    router = tmp_path / "router"
    shutil.copytree(members / "router" / "router", router)
    forge(router, noising="ddpm_cosine")
    experts = [copy(members, tmp_path, "fm0"), copy(members, tmp_path, "ddpm1")]
    refused(tmp_path, experts, "was trained on noising 'ddpm_cosine'", "routing=top1", f"ensemble.router={router}")
