"""Everything an analysis needs, loaded once: the checked ensemble members, prompts and their embeddings, the
seeded initial noise, and fields of the same members under any routing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

from hddm.config import TextConfig
from hddm.device import resolve_device
from hddm.diffusion.conversion import NO_SAFEGUARDS, clean_and_noise
from hddm.diffusion.objectives import Objective, Prediction
from hddm.ensemble.factory import build_field_factory, chosen_prompts, sample_noise
from hddm.ensemble.field import EnsembleField, UsageStats
from hddm.lit.data import prompt_embeddings
from hddm.routing.strategies import Routing, check_routing


@dataclass
class Setup:
    cfg: object  # AnalyzeConfig
    base: EnsembleField  # the members under the configured routing; other routings reuse its experts and routing scores
    prompts: list[str]
    noise: torch.Tensor
    usage: UsageStats  # counts every expert evaluation (sample x expert) of the analysis

    @property
    def num_experts(self) -> int:
        return len(self.base.experts)

    @property
    def data(self) -> dict:
        return self.base.experts[0].manifest["data"]

    def routing(self, **changes) -> Routing:
        return replace(self.base.routing, **changes)

    def named_routing(self, name: str) -> Routing:
        """top1 | top2 | full | random_top2 (the misaligned counterfactual) | threshold, as conf/routing/ names them."""
        named = {"top2": dict(strategy="topk", k=2), "random_top2": dict(strategy="random_topk", k=2)}
        return self.routing(**named.get(name, dict(strategy=name)))

    def field(self, routing: Routing | None = None, rows: slice = slice(None)) -> EnsembleField:
        routing = routing or self.base.routing
        check_routing(routing, self.num_experts)
        b = self.base
        return EnsembleField(
            b.experts,
            b.scores,
            routing,
            b.conversion,
            b.text[rows],
            b.text_mask[rows],
            b.cfg_scale,
            b.offload,
            self.cfg.seed,
            self.usage,
        )

    def clean_estimate(self, velocity: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0_hat of the routed velocity on the integration path (linear unless conversion.path says otherwise)."""
        objective = Objective(Prediction.velocity, self.base.conversion.path)
        return clean_and_noise(velocity, x, t, objective, NO_SAFEGUARDS)[0]


def load_setup(cfg) -> Setup:
    device = resolve_device(cfg.device)
    make_field, experts, _ = build_field_factory(cfg, device)
    first = experts[0].manifest
    prompts = chosen_prompts(cfg, first["data"])
    tokens, mask = prompt_embeddings(
        prompts, TextConfig(name=first["text"]["name"], kwargs=first["text"]["kwargs"]), cfg.cache_dir
    )
    usage = UsageStats(len(experts))
    base = make_field(tokens.to(device), mask.to(device), cfg.seed, usage, prompts)
    data = first["data"]
    noise = sample_noise(0, cfg.n, (data["channels"], data["image_size"], data["image_size"]), cfg.seed).to(device)
    return Setup(cfg, base, prompts, noise, usage)


def settings(setup: Setup) -> dict:
    """What every analysis output records about the run."""
    cfg = setup.cfg
    return {
        "ensemble": asdict(cfg.ensemble),
        "routing": asdict(cfg.routing),
        "conversion": cfg.conversion.mode,
        "n": cfg.n,
        "steps": cfg.steps,
        "solver": "euler",
        "cfg_scale": cfg.cfg_scale,
        "seed": cfg.seed,
        "experts": [
            {
                "cluster": e.manifest["cluster"],
                "objective": e.manifest["objective"],
                "weights_sha256": e.manifest["weights_sha256"],
            }
            for e in setup.base.experts
        ],
        "analysis": asdict(cfg.analysis),
    }
