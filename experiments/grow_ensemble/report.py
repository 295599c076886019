"""The grow-ensemble tables from finished sample runs: per-seed rows, pooled rows, and paired bootstrap differences
to the centralized reference (c). Samples of every row share noise and prompts (sampling seed 0), so sample i of
two rows is a pair; training seeds are strata of the bootstrap."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from run import HERE, PROMPT_SETS, REFERENCE, ROOT, ROWS, SEEDS, sample_dir
from torchmetrics.image.fid import _compute_fid

from hddm.data.styled_digits import prompted_domain
from hddm.metrics.adherence import prompted_digit
from hddm.metrics.bootstrap import mean_of, paired_difference
from hddm.metrics.domain_fid import ClassifierFeatures
from hddm.metrics.fid import to_uint8
from hddm.metrics.reference_stats import reference_images
from hddm.metrics.styled import styled_logits
from hddm.models.styled_cnn import shipped_styled_cnn

CACHE = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
RESAMPLES = 1000


def per_sample(run_dir: Path, prompts_file: Path, features: ClassifierFeatures) -> dict:
    """Each sample's digit hit, domain hit (NaN where its prompt names no domain) and styled-cnn features."""
    images = torch.load(run_dir / "samples.pt", weights_only=True)
    prompts = [line for line in prompts_file.read_text().splitlines() if line]
    prompts = [prompts[i % len(prompts)] for i in range(len(images))]
    names = list(shipped_styled_cnn()[1]["domains"])
    digit_logits, domain_logits = styled_logits(images)
    wanted_domain = [names.index(d) if (d := prompted_domain(p)) else -1 for p in prompts]
    domain_hit = np.where(
        np.array(wanted_domain) >= 0, domain_logits.argmax(1).numpy() == np.array(wanted_domain), np.nan
    )
    record = json.loads((run_dir / "record.json").read_text())
    return {
        "digit": (digit_logits.argmax(1).numpy() == np.array([prompted_digit(p) for p in prompts])).astype(float),
        "domain": domain_hit,
        "features": features(to_uint8(images)).numpy(),
        "usage": record["usage"],
    }


def fid_of(features: np.ndarray, reference: tuple[torch.Tensor, torch.Tensor]):
    def statistic(rows: np.ndarray) -> float:
        chosen = torch.from_numpy(features[rows])
        return float(_compute_fid(chosen.mean(0), torch.cov(chosen.T), *reference))

    return statistic


def write_tables(new_domain: str) -> str:
    features = ClassifierFeatures(CACHE, "styled_digits")
    test, _ = reference_images("styled_digits", "test", CACHE)
    ref = features(test)
    reference = (ref.mean(0), torch.cov(ref.T))
    runs = {
        (row, prompts, seed): per_sample(sample_dir(row, prompts, seed), PROMPT_SETS[prompts][0], features)
        for row in ROWS
        for prompts in PROMPT_SETS
        for seed in SEEDS
        if (sample_dir(row, prompts, seed) / "record.json").is_file()
    }
    new_expert = "c7_fm"
    lines = [
        f"New contributor: cluster 7 (domain `{new_domain}`). Top-2, Euler 25 steps, CFG 3, sampling seed 0.",
        "",
        "| row | seed | new-domain adherence | new-domain digit adh. | domain FID (styled-cnn), all prompts | "
        "digit adh., all prompts | domain adh., all prompts | new expert's share of steps (new prompts) | routing share of time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    pooled = {}
    for row, (_, _, label) in ROWS.items():
        for seed in (*SEEDS, "pooled"):
            seeds = SEEDS if seed == "pooled" else (seed,)
            if not all((row, p, s) in runs for p in PROMPT_SETS for s in seeds):
                continue
            new = {
                k: np.concatenate([runs[(row, "new", s)][k] for s in seeds]) for k in ("digit", "domain", "features")
            }
            every = {
                k: np.concatenate([runs[(row, "all", s)][k] for s in seeds]) for k in ("digit", "domain", "features")
            }
            usage = [runs[(row, "new", s)]["usage"] for s in seeds]
            share = np.mean([u["share_of_steps"].get(new_expert, 0.0) for u in usage])
            timing = np.mean([u.get("routing_share_of_time", np.nan) for u in usage])
            fid = fid_of(every["features"], reference)(np.arange(len(every["features"])))
            lines.append(
                f"| {label} | {seed} | {np.nanmean(new['domain']):.3f} | {new['digit'].mean():.3f} | {fid:.1f} | "
                f"{every['digit'].mean():.3f} | {np.nanmean(every['domain']):.3f} | {share:.3f} | {timing:.3f} |"
            )
            if seed == "pooled":
                pooled[row] = (new, every)
    lines += [
        "",
        f"Differences to {ROWS[REFERENCE][2]}, pooled over training seeds (paired bootstrap, {RESAMPLES} "
        "resamples within each seed; * = the 95 % interval excludes 0):",
        "",
        "| row | new-domain adherence | domain FID, all prompts | digit adh., all prompts |",
        "|---|---|---|---|",
    ]
    results = {}
    if REFERENCE in pooled:
        ref_new, ref_all = pooled[REFERENCE]
        n_new, n_all = len(ref_new["digit"]), len(ref_all["digit"])
        strata_new, strata_all = (
            np.repeat(np.arange(len(SEEDS)), n_new // len(SEEDS)),
            np.repeat(np.arange(len(SEEDS)), n_all // len(SEEDS)),
        )
        for row, (new, every) in pooled.items():
            if row == REFERENCE:
                continue
            diffs = {
                "new_domain_adherence": paired_difference(
                    mean_of(new["domain"]), mean_of(ref_new["domain"]), n_new, strata_new, RESAMPLES
                ),
                "domain_fid_all": paired_difference(
                    fid_of(every["features"], reference),
                    fid_of(ref_all["features"], reference),
                    n_all,
                    strata_all,
                    RESAMPLES,
                ),
                "digit_adherence_all": paired_difference(
                    mean_of(every["digit"]), mean_of(ref_all["digit"]), n_all, strata_all, RESAMPLES
                ),
            }
            results[row] = {name: vars(d) for name, d in diffs.items()}
            lines.append(
                f"| {ROWS[row][2]} | "
                + " | ".join(f"{d}{' *' if d.significant else ''}" for d in diffs.values())
                + " |"
            )
    for seed in SEEDS:
        check = ROOT / f"runs/grow_ensemble/earlier_bundles_s{seed}.json"
        if check.is_file():
            found = json.loads(check.read_text())
            lines.append(
                f"\nSeed {seed}: the {found['files']} files of the seven earlier bundles (weights, manifests, routing "
                f"information) are {'byte-identical' if found['unchanged_after_adding_the_new_expert'] else 'CHANGED'} "
                "after the new contributor trained its expert and routing information."
            )
    text = "\n".join(lines) + "\n"
    (HERE / "table.md").write_text(text)
    (HERE / "results.json").write_text(
        json.dumps({"new_domain": new_domain, "differences_to_reference": results}, indent=1)
    )
    return text
