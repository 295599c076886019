"""The styled-digits experiments' tables from finished runs (run.py): every row per training seed and pooled, paired
bootstrap 95 % intervals of each difference a reading relies on, the tau-sweep plot, and one verdict per claim.

    .venv/bin/python experiments/styled_experiments/report.py [EXPERIMENT ...]   # what has finished; missing rows
                                                                                  # are left out

Sample i of two rows with the same training seed and sampling seed shares its prompt and starting noise: a pair. The
bootstrap resamples pairs within each (training seed, sampling seed) stratum (hddm.metrics.bootstrap), 1000 times.
Metrics, all on the shipped styled-cnn (the offline stand-in for Inception and CLIP, named as such):
  domain FID (styled-cnn features) against the styled test split (all of it for the routed ensembles; the cluster's
  domain for the single-cluster rows); digit FID: the same per prompted digit against that digit's test images,
  averaged over digits; k-NN precision/recall (k = 3) against as many test images with the prompts' digits and
  domains; digit and domain adherence (the styled-cnn's two heads); within-prompt diversity: each sample's mean DSSIM
  (the stand-in for LPIPS) to the other samples of its prompt and training seed; expert evaluations per image (each a
  conditional + unconditional pass). The real-data floor: validation images with the same digits and domains, one per
  sample, scored the same way.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from claims import BEST_CLAIMS, CLAIMS, EXPERIMENTS, Claim  # noqa: E402
from run import OUT, PROMPTS_ALL, PROMPTS_CLUSTER, ROOT, SAMPLING_SEEDS, TRAINING_SEEDS  # noqa: E402
from tables import paste_table  # noqa: E402
from torchmetrics.image.fid import _compute_fid  # noqa: E402

from hddm.data.styled_digits import load_styled, prompted_domain  # noqa: E402
from hddm.metrics.adherence import prompted_digit  # noqa: E402
from hddm.metrics.bootstrap import Difference, mean_of, paired_difference, resampled_indices  # noqa: E402
from hddm.metrics.diversity import dssim  # noqa: E402
from hddm.metrics.domain_fid import ClassifierFeatures  # noqa: E402
from hddm.metrics.fid import to_uint8  # noqa: E402
from hddm.metrics.precision_recall import precision_recall  # noqa: E402
from hddm.metrics.styled import styled_logits  # noqa: E402

CACHE = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
RESAMPLES = 1000
SAMPLES = ROOT / OUT / "samples"
SEED_SETS = {**{str(s): (s,) for s in TRAINING_SEEDS}, "pooled": TRAINING_SEEDS}


@dataclass
class Rows:
    """Per-sample values of one row on some training seeds, in an order every row shares (the pairs)."""

    features: np.ndarray  # styled-cnn features [N, D]
    digit: np.ndarray  # the prompted digit
    domain: np.ndarray  # the prompted domain's index
    digit_hit: np.ndarray
    domain_hit: np.ndarray
    diversity: np.ndarray  # mean DSSIM to the other samples of the same prompt and training seed
    strata: np.ndarray  # 2 * training seed + sampling seed
    evaluations: float  # expert evaluations per image
    seconds: float  # per image, on this machine beside other jobs

    def __len__(self):
        return len(self.digit)


class Scorer:
    def __init__(self):
        self.extract = ClassifierFeatures(CACHE, "styled_digits")
        self.test, self.val = load_styled(CACHE, "test"), load_styled(CACHE, "val")
        self.names = list(self.test.domain_names)
        self.test_features = self.features(torch.from_numpy(self.test.images))

    def features(self, uint8_images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([self.extract(chunk) for chunk in uint8_images.split(1000)]).double().numpy()

    def reference(self, keep: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = torch.from_numpy(self.test_features[keep])
        return chosen.mean(0), torch.cov(chosen.T)

    def rows(self, parts: list[tuple[torch.Tensor, np.ndarray, np.ndarray, int, float, float]]) -> Rows:
        """parts: (images in [-1, 1], digit, domain, stratum, evaluations, seconds) per run."""
        images = torch.cat([p[0] for p in parts])
        digit, domain = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
        strata = np.concatenate([np.full(len(p[1]), p[3]) for p in parts])
        digit_logits, domain_logits = styled_logits(images)
        return Rows(
            self.features(to_uint8(images)),
            digit,
            domain,
            (digit_logits.argmax(1).numpy() == digit).astype(float),
            (domain_logits.argmax(1).numpy() == domain).astype(float),
            within_prompt_diversity(images, strata // 2, digit, domain),
            strata,
            float(np.mean([p[4] for p in parts])),
            float(np.mean([p[5] for p in parts])),
        )

    def runs(self, dirs: dict[int, list[Path]], prompts_file: Path) -> Rows | None:
        """{training seed: [run folder per sampling seed]} -> Rows, or None while a run is missing."""
        if not all((d / "record.json").is_file() and (d / "samples.pt").is_file() for v in dirs.values() for d in v):
            return None
        lines = [line for line in prompts_file.read_text().splitlines() if line]
        parts = []
        for seed, folders in dirs.items():
            for r, folder in enumerate(folders):
                images = torch.load(folder / "samples.pt", weights_only=True).float()
                record = json.loads((folder / "record.json").read_text())
                prompts = [lines[i % len(lines)] for i in range(len(images))]
                digit = np.array([prompted_digit(p) for p in prompts])
                domain = np.array([self.names.index(prompted_domain(p)) for p in prompts])
                evaluations = record["usage"]["expert_evaluations"] / len(images)
                parts.append((images, digit, domain, 2 * seed + r, evaluations, record["seconds"] / len(images)))
        return self.rows(parts)

    def real_floor(self, like: Rows) -> Rows:
        """Validation images with the row's digits and domains, one per sample, none used twice."""
        chosen = matching(self.val.digits, self.val.domains, like.digit, like.domain, seed=0)
        images = torch.from_numpy(self.val.images[chosen]).float() / 127.5 - 1
        parts = [
            (images[like.strata == s], like.digit[like.strata == s], like.domain[like.strata == s], s, 0.0, 0.0)
            for s in np.unique(like.strata)
        ]
        return self.rows(parts)


def matching(digits: np.ndarray, domains: np.ndarray, want_digit, want_domain, seed: int) -> list[int]:
    """Indices of distinct items with the wanted (digit, domain) pairs, in order (a fixed random draw)."""
    rng, pools, chosen = np.random.default_rng(seed), {}, []
    for d, x in zip(want_digit, want_domain):
        if (d, x) not in pools:
            pools[(d, x)] = list(rng.permutation(np.flatnonzero((digits == d) & (domains == x))))
        chosen.append(pools[(d, x)].pop())
    return chosen


def within_prompt_diversity(images, seed_of, digit, domain) -> np.ndarray:
    """Each sample's mean DSSIM to the other samples of its (training seed, digit, domain); NaN when it is alone."""
    diversity = np.full(len(images), np.nan)
    keys = np.stack([seed_of, digit, domain], 1)
    for key in np.unique(keys, axis=0):
        members = np.flatnonzero((keys == key).all(1))
        for i in members if len(members) > 1 else ():
            others = members[members != i]
            diversity[i] = float(dssim(images[[i] * len(others)], images[others]).mean())
    return diversity


def fid_statistic(features: np.ndarray, reference):
    def statistic(rows: np.ndarray) -> float:
        chosen = torch.from_numpy(features[rows])
        return float(_compute_fid(chosen.mean(0), torch.cov(chosen.T), *reference))

    return statistic


@dataclass(frozen=True)
class Metric:
    key: str
    title: str


METRICS = (
    Metric("fid", "domain FID (styled-cnn) ↓"),
    Metric("digit_fid", "digit FID, mean over digits ↓"),
    Metric("precision", "precision ↑"),
    Metric("recall", "recall ↑"),
    Metric("digit_adherence", "digit adh. ↑"),
    Metric("domain_adherence", "domain adh. ↑"),
    Metric("diversity", "diversity (DSSIM stand-in) ↑"),
)
BOOTSTRAPPED = ("fid", "digit_adherence", "domain_adherence", "diversity")


class Scores:
    """The metrics of rows against one reference: the whole test split, or one domain's test images."""

    def __init__(self, scorer: Scorer, domain: str | None):
        test = scorer.test
        keep = np.ones(len(test.digits), bool) if domain is None else test.domains == scorer.names.index(domain)
        self.scorer, self.keep = scorer, keep
        self.reference = scorer.reference(keep)
        self.digit_references = {d: scorer.reference(keep & (test.digits == d)) for d in range(10)}

    def statistic(self, rows: Rows, key: str):
        if key == "fid":
            return fid_statistic(rows.features, self.reference)
        if key in ("digit_adherence", "domain_adherence"):
            return mean_of(rows.digit_hit if key == "digit_adherence" else rows.domain_hit)
        if key == "diversity":
            return lambda chosen: float(np.nanmean(rows.diversity[chosen]))
        raise KeyError(key)

    def values(self, rows: Rows) -> dict[str, float]:
        every = np.arange(len(rows))
        values = {key: self.statistic(rows, key)(every) for key in BOOTSTRAPPED}
        per_digit = [
            fid_statistic(rows.features, self.digit_references[d])(np.flatnonzero(rows.digit == d))
            for d in np.unique(rows.digit)
        ]
        values["digit_fid"] = float(np.mean(per_digit))
        real = matching(self.scorer.test.digits, self.scorer.test.domains, rows.digit, rows.domain, seed=1)
        values.update(
            precision_recall(torch.from_numpy(self.scorer.test_features[real]), torch.from_numpy(rows.features))
        )
        values["evaluations"], values["seconds"] = rows.evaluations, rows.seconds
        return values

    def difference(self, a: Rows, b: Rows, key: str) -> Difference:
        if not np.array_equal(a.strata, b.strata) or not np.array_equal(a.digit, b.digit):
            raise ValueError("the rows are not paired: different prompts or strata")
        return paired_difference(self.statistic(a, key), self.statistic(b, key), len(a), a.strata, RESAMPLES)

    def best_share(self, candidates: dict[str, Rows], key: str, lower_is_better: bool) -> dict[str, float]:
        """{candidate: share of bootstrap resamples in which it is best}, every candidate on the same resample."""
        statistics = [self.statistic(rows, key) for rows in candidates.values()]
        strata = next(iter(candidates.values())).strata
        wins, rng = np.zeros(len(statistics)), np.random.default_rng(0)
        for _ in range(RESAMPLES):
            chosen = resampled_indices(strata, rng)
            values = [statistic(chosen) for statistic in statistics]
            wins[int(np.argmin(values) if lower_is_better else np.argmax(values))] += 1
        return {name: wins[i] / RESAMPLES for i, name in enumerate(candidates)}


def row_dirs(run: str, seeds, tau: str | None) -> dict[int, list[Path]]:
    def folder(seed, r):
        base = SAMPLES / f"s{seed}" / f"{run}_r{r}"
        return base / f"tau{tau}" if tau is not None else base

    return {seed: [folder(seed, r) for r in SAMPLING_SEEDS] for seed in seeds}


def fmt(value: float, key: str) -> str:
    return "-" if np.isnan(value) else f"{value:.1f}" if "fid" in key else f"{value:.3f}"


def values_table(scores: Scores, loaded: dict[str, dict[str, Rows]], labels: dict[str, str]) -> tuple[str, dict]:
    lines = [
        "| row | training seed | " + " | ".join(m.title for m in METRICS) + " | expert evals / image | s / image |",
        "|" + "---|" * (len(METRICS) + 4),
    ]
    numbers = {}
    labels = {**labels, "real_floor": "real validation images (floor)"}

    def line(name, label, values, cost):
        numbers.setdefault(name, {})[label] = values
        cells = " | ".join(fmt(values[m.key], m.key) for m in METRICS)
        lines.append(f"| {labels.get(name, name)} | {label} | {cells} | {cost} |")

    for row, by_seed in loaded.items():
        for label, rows in by_seed.items():
            values = scores.values(rows)
            line(row, label, values, f"{values['evaluations']:.0f} | {values['seconds']:.2f}")
    if loaded:
        first = next(iter(loaded.values()))
        for label, rows in first.items():
            real = scores.scorer.real_floor(rows)
            line("real_floor", label, scores.values(real), "- | -")
    return "\n".join(lines) + "\n", numbers


def verdict(claim: Claim, difference: Difference) -> str:
    if claim.expected_sign == 0:
        return "measured (no paper claim)"
    if not difference.significant:
        return "inconclusive"
    return "reproduced" if np.sign(difference.estimate) == claim.expected_sign else "not reproduced"


def claims_table(scores: Scores, loaded: dict, claims: list[Claim], labels: dict) -> tuple[str, list[dict]]:
    lines = [
        "| claim | a - b | metric | training seed 0 | training seed 1 | pooled (95 % CI) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    found = []
    for claim in claims:
        if claim.a not in loaded or claim.b not in loaded:
            continue
        cells, pooled = [], None
        for label in SEED_SETS:
            if label in loaded[claim.a] and label in loaded[claim.b]:
                d = scores.difference(loaded[claim.a][label], loaded[claim.b][label], claim.key)
                cells.append(f"{d}{' *' if d.significant else ''}")
                pooled = d if label == "pooled" else pooled
            else:
                cells.append("-")
        word = verdict(claim, pooled) if pooled else "pending (one training seed)"
        pair = f"{labels[claim.a]} - {labels[claim.b]}"
        lines.append(f"| {claim.text} | {pair} | {claim.key} | " + " | ".join(cells) + f" | {word} |")
        found.append({**vars(claim), "pooled": vars(pooled) if pooled else None, "verdict": word})
    return "\n".join(lines) + "\n", found


def best_table(scores: Scores, loaded: dict, sweeps: dict[str, list[str]], labels: dict) -> tuple[str, dict]:
    """Per sweep: the share of bootstrap resamples in which each tau is best (pooled seeds)."""
    lines, shares = [], {}
    for sweep, rows in sweeps.items():
        present = {row: loaded[row]["pooled"] for row in rows if "pooled" in loaded.get(row, {})}
        if len(present) < 2:
            continue
        for key, lower in (("fid", True), ("diversity", False)):
            share = scores.best_share(present, key, lower)
            shares[f"{sweep}/{key}"] = share
            cells = ", ".join(f"{labels[row].split('tau = ')[-1]}: {share[row]:.2f}" for row in present)
            lines.append(f"- {labels[sweep]}, best {key} (share of resamples, tau: share): {cells}")
    return "\n".join(lines) + "\n", shares


def best_verdicts(name: str, shares: dict) -> list[dict]:
    found = []
    for claim in (c for c in BEST_CLAIMS if c.experiment == name):
        share = shares.get(f"{claim.sweep}/{claim.key}")
        if share is None:
            continue
        claimed = sum(share[f"{claim.sweep}@{tau}"] for tau in claim.taus)
        word = "reproduced" if claimed >= 0.95 else "not reproduced" if claimed <= 0.05 else "inconclusive"
        found.append({**vars(claim), "expected_sign": 1, "share_best": claimed, "verdict": word})
    return found


def plot_sweeps(numbers: dict, sweeps: dict[str, list[str]], labels: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for sweep, rows in sweeps.items():
        present = [row for row in rows if "pooled" in numbers.get(row, {})]
        taus = [float(labels[row].split("tau = ")[-1]) for row in present]
        for axis, key in zip(axes, ("fid", "digit_adherence", "diversity")):
            axis.plot(taus, [numbers[row]["pooled"][key] for row in present], "o-", label=labels[sweep])
            axis.set_xlabel("tau (FM-first: FM for t > tau)")
            axis.set_title(key)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_rows(scores: Scores, loaded: dict, labels: dict, path: Path) -> None:
    """Each row's pooled domain FID with its bootstrap 95 % interval, and its digit and domain adherence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in loaded if "pooled" in loaded[row]]
    figure, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(rows) + 1.5), sharey=True)
    for i, row in enumerate(rows):
        pooled = loaded[row]["pooled"]
        fid = paired_difference(scores.statistic(pooled, "fid"), lambda _: 0.0, len(pooled), pooled.strata, RESAMPLES)
        axes[0].hlines(i, fid.low, fid.high, color="grey")  # resampling repeats samples: FID's interval sits high
        axes[0].plot(fid.estimate, i, "o", color="k")
        for key, style in (("digit_adherence", "oC0"), ("domain_adherence", "sC1")):  # one colour per measure
            axes[1].plot(scores.statistic(pooled, key)(np.arange(len(pooled))), i, style, label=key if i == 0 else None)
    axes[0].set_yticks(range(len(rows)), [labels[row] for row in rows], fontsize=7)
    axes[0].set_xlabel("domain FID (styled-cnn), pooled (dot), bootstrap 95 % interval (line)")
    axes[1].set_xlabel("adherence (styled-cnn), pooled")
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def experiment_report(scorer: Scorer, name: str) -> list[dict]:
    spec = EXPERIMENTS[name]
    prompts, domain = (PROMPTS_ALL, None) if spec.all_prompts else (PROMPTS_CLUSTER, cluster_domain_name())
    scores = Scores(scorer, domain)
    loaded = {}
    for row, (run, tau) in spec.rows.items():
        for label, seeds in SEED_SETS.items():
            rows = scorer.runs(row_dirs(run, seeds, tau), prompts)
            if rows is not None:
                loaded.setdefault(row, {})[label] = rows
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    values, numbers = values_table(scores, loaded, spec.labels)
    claims = [c for c in CLAIMS if c.experiment == name]
    differences, found = claims_table(scores, loaded, claims, spec.labels)
    claimed = {c.sweep for c in BEST_CLAIMS if c.experiment == name}  # the sweeps a best-tau claim is about
    sweeps = {sweep: rows for sweep, rows in spec.sweeps.items() if sweep in claimed}
    best, shares = best_table(scores, loaded, sweeps, spec.labels) if sweeps else ("", {})
    found += best_verdicts(name, shares)
    readme = folder / "README.md"
    if readme.is_file():
        paste_table(readme, "values", values)
        paste_table(readme, "claims", differences + ("\n" + best if best else ""))
    if spec.sweeps:
        plot_sweeps(numbers, spec.sweeps, spec.labels, folder / "tau_sweep.png")
    else:
        plot_rows(scores, loaded, spec.labels, folder / "rows.png")
    (folder / "results.json").write_text(json.dumps({"values": numbers, "claims": found, "best": shares}, indent=1))
    print(f"{name}: {len(loaded)} rows\n{values}\n{differences}\n{best}", flush=True)
    return found


def cluster_domain_name() -> str:
    return prompted_domain(PROMPTS_CLUSTER.read_text().splitlines()[0])


def summary(found: dict[str, list[dict]]) -> str:
    lines = [
        "| experiment | claim (paper) | metric | styled digits: pooled a - b (95 % CI) | styled digits | MNIST control |",
        "|---|---|---|---|---|---|",
    ]
    for name, claims in found.items():
        for claim in claims:
            if claim["expected_sign"] == 0:
                continue
            pooled = claim.get("pooled")
            interval = f"{pooled['estimate']:+.3f} [{pooled['low']:+.3f}, {pooled['high']:+.3f}]" if pooled else "-"
            if "share_best" in claim:
                interval = f"claimed taus best in {claim['share_best']:.0%} of resamples"
            cells = f"{claim['key']} | {interval} | {claim['verdict']} | {claim['mnist'] or '-'}"
            lines.append(f"| {name} | {claim['text']} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Usage: report.py [EXPERIMENT ...] (default: all); the verdict table is rebuilt from every results.json."""
    names = sys.argv[1:] or list(EXPERIMENTS)
    unknown = sorted(set(names) - set(EXPERIMENTS))
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}: choose from {list(EXPERIMENTS)}")
    scorer = Scorer()
    for name in names:
        experiment_report(scorer, name)
    found = {
        name: json.loads((HERE / name / "results.json").read_text())["claims"]
        for name in EXPERIMENTS
        if (HERE / name / "results.json").is_file()
    }
    table = summary(found)
    (HERE / "claims.md").write_text(table)
    readme = ROOT / "experiments" / "README.md"
    if readme.is_file():
        paste_table(readme, "styled_claims", table)
    print(table)


if __name__ == "__main__":
    main()
