"""Sample a routed heterogeneous ensemble:
`python -m hddm.sample ensemble=demo routing=top2 prompt="a handwritten digit seven" n=16`.

Loads the expert and router bundles (hash-checked, compatibility-checked), routes every step, converts every
expert to velocity, integrates with Euler or Heun and CFG, and writes grid.png plus record.json with every
setting used, the members' hashes and the expert usage.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import DictConfig
from rich.progress import MofNCompleteColumn, Progress

from hddm import __version__
from hddm.config import SampleRunConfig, TextConfig, register_configs, to_typed
from hddm.data.latents import VAEDecoder
from hddm.device import resolve_device
from hddm.ensemble.factory import build_field_factory, chosen_prompts, draw, sample_noise
from hddm.ensemble.field import UsageStats
from hddm.ensemble.members import expert_name
from hddm.grids import save_labelled_grid
from hddm.io import atomic_write, write_json
from hddm.jobs import hydra_command
from hddm.lit.data import prompt_embeddings
from hddm.metrics.adherence import mnist_prompt_adherence
from hddm.metrics.styled import styled_adherence
from hddm.models.moe_accounting import CapacityMeter


@torch.no_grad()
def sample(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg: SampleRunConfig = to_typed(dict_cfg)
    device = resolve_device(cfg.device)
    make_field, experts, router_manifest = build_field_factory(cfg, device)
    first = experts[0].manifest
    prompts = chosen_prompts(cfg, first["data"])
    text = TextConfig(name=first["text"]["name"], kwargs=first["text"]["kwargs"])
    tokens, mask = prompt_embeddings(prompts, text, cfg.cache_dir)
    data = first["data"]
    noise = sample_noise(0, cfg.n, (data["channels"], data["image_size"], data["image_size"]), cfg.seed)
    images, usage = [], UsageStats(len(experts))
    meters = [CapacityMeter(e.network) for e in experts]  # MoE experts: C_infer of every network evaluation
    evaluations_per_batch = cfg.steps * (2 if cfg.solver == "heun" else 1)
    started = time.time()
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=True) as progress:
        task = progress.add_task("sampling", total=evaluations_per_batch * -(-cfg.n // cfg.batch_size))
        for start in range(0, cfg.n, cfg.batch_size):
            rows = slice(start, start + cfg.batch_size)
            images.append(
                draw(
                    cfg,
                    make_field,
                    experts,
                    tokens[rows].to(device),
                    mask[rows].to(device),
                    noise[rows].to(device),
                    cfg.seed + start,
                    usage,
                    prompts[rows],
                    on_step=lambda n: progress.advance(task, n),
                ).cpu()
            )
    seconds = time.time() - started
    images = torch.cat(images)
    names = [expert_name(e.manifest) for e in experts]
    run_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # saved in memory first: a full disk is then an OSError naming the file, not torch's own
    torch.save(images, buffer)  # what the experts generate: pixels, or latents
    atomic_write(run_dir / "samples.pt", lambda tmp: Path(tmp).write_bytes(buffer.getbuffer()))
    if data["space"] == "latent" and cfg.vae.pretrained:
        decoder = VAEDecoder(cfg.vae.pretrained, device, cfg.vae.precision, cfg.vae.scale_factor, data["scale_factor"])
        images = torch.cat([decoder(chunk).cpu() for chunk in images.split(cfg.batch_size)])
    grid = run_dir / "grid.png" if images.shape[1] in (1, 3) else None  # latents without vae.pretrained: no picture
    if grid:
        save_labelled_grid(grid, (images.clamp(-1, 1) + 1) / 2, prompts, cfg.grid_columns)
    record = {
        "settings": asdict(cfg),
        "prompts": sorted(set(prompts), key=prompts.index),
        "n": cfg.n,
        "experts": [
            {
                "path": p,
                "cluster": e.manifest["cluster"],
                "objective": e.manifest["objective"],
                "schedule": e.manifest["schedule"],
                "weights_sha256": e.manifest["weights_sha256"],
            }
            for p, e in zip(cfg.ensemble.experts, experts)
        ],
        "router": None
        if router_manifest is None
        else {"path": cfg.ensemble.router, "weights_sha256": router_manifest["weights_sha256"]},
        "usage": {**usage.summary(names), "routing_share_of_time": round(usage.routing_seconds / seconds, 4)},
        "seconds": round(seconds, 2),
        "images_per_second": round(cfg.n / seconds, 3),
        "device": str(device),
        "hddm_version": __version__,
        "outputs": {"grid": grid and str(grid), "samples": str(run_dir / "samples.pt")},
    }
    capacity = {name: summary for name, meter in zip(names, meters) if (summary := meter.summary())}
    if capacity:
        record["c_infer"] = capacity
    if data["name"] == "mnist":
        record["metrics"] = {"prompt_adherence": mnist_prompt_adherence(images, prompts, cfg.cache_dir)}
    elif data["name"] == "styled_digits":
        record["metrics"] = {"prompt_adherence": styled_adherence(images, prompts)}
    write_json(run_dir / "record.json", record)
    print(
        f"hddm: {cfg.n} samples from {len(experts)} experts ({cfg.routing.strategy}, {cfg.conversion.mode}) in "
        f"{seconds:.1f} s"
        f"\n  grid:   {grid or 'none (latents: set vae.pretrained=<VAE> to decode them)'}\n  record: "
        f"{run_dir / 'record.json'}\n  usage:  {record['usage']['share_of_steps']}"
        f"\n  metrics: {record.get('metrics')}"
    )
    return record


register_configs()


main = hydra_command("sample", sample, to_typed)


if __name__ == "__main__":
    main()
