"""The papers' claims the styled-digits experiments test, and the rows each experiment reads (run.py's run folders).

Each claim also carries its reading on the MNIST control (digit clusters, experts from scratch; two training seeds, one
sampling seed, samples not kept, so no interval), quoted from that experiment's README under experiments/.

A difference claim compares two paired rows, a - b, on one metric: reproduced when the pooled 95 % interval lies on the
paper's side of zero, not reproduced when it lies on the other, inconclusive when it holds zero. A best-tau claim is
read from the share of bootstrap resamples in which each tau is best: reproduced when the claimed taus are best in at
least 95 % of them, not reproduced when in at most 5 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from run import TAUS

SWEEP_TAUS = ("0.0", *(str(t) for t in TAUS), "1.0")


@dataclass(frozen=True)
class Claim:
    experiment: str
    text: str
    a: str  # rows compared: a - b
    b: str
    key: str
    expected_sign: int  # the paper's sign of a - b; 0: no claim, measured only
    mnist: str = ""  # the same claim on the MNIST control, from that experiment's README (seed 0 / seed 1)


@dataclass(frozen=True)
class BestClaim:
    experiment: str
    text: str
    sweep: str
    key: str
    taus: tuple[str, ...]  # the taus the paper says are best
    mnist: str = ""


@dataclass
class Experiment:
    rows: dict[str, tuple[str, str | None]]  # row: (run name, tau or None)
    labels: dict[str, str]
    all_prompts: bool  # every digit in every domain; else cluster CLUSTER's domain only
    sweeps: dict[str, list[str]] = field(default_factory=dict)  # sweep: its rows at tau 0.2..0.7


def sweep_rows(sweep: str, label: str, taus=SWEEP_TAUS) -> tuple[dict, dict]:
    rows = {f"{sweep}@{tau}": (sweep, tau) for tau in taus}
    labels = {f"{sweep}@{tau}": f"{label}, tau = {tau}" for tau in taus}
    return rows, {**labels, sweep: label}


ROUTED = {
    "monolithic": "monolithic FM (all data, K x the expert steps)",
    "monolithic_moe": "monolithic FM, K x the parameters at equal FLOPs (upcycled token-choice MoE)",
    "top1": "8 FM experts, Top-1",
    "top2": "8 FM experts, Top-2",
    "full": "8 FM experts, full ensemble",
    "oracle": "8 FM experts, oracle routing (the prompt's domain)",
    "top2_text_router": "8 FM experts, Top-2, text-aware router",
    "digits_top2": "8 FM experts on the digit-aligned partition, Top-2",
    "ddpm1_top2": "1 DDPM + 7 FM, Top-2",
    "ddpm2_top2": "2 DDPM + 6 FM, Top-2 (heterogeneous)",
    "ddpm4_top2": "4 DDPM + 4 FM, Top-2",
}


def routed(*rows: str) -> Experiment:
    return Experiment({row: (row, None) for row in rows}, {row: ROUTED[row] for row in rows}, all_prompts=True)


SWEEPS = {
    "same_schedule": "FM (cosine path) + DDPM (cosine), paper conversion",
    "mixed_paper": "FM (linear) + DDPM (cosine), paper conversion",
    "mixed_paper_scaled": "FM (linear) + DDPM (cosine), paper conversion + s(t)",
    "mixed_snr_matched": "FM (linear) + DDPM (cosine), snr_matched conversion",
}


def threshold_sweep() -> Experiment:
    rows, labels, sweeps = {}, {}, {}
    for sweep, label in SWEEPS.items():
        r, lab = sweep_rows(sweep, label)
        rows.update(r)
        labels.update(lab)
        sweeps[sweep] = [f"{sweep}@{t}" for t in SWEEP_TAUS[1:-1]]
    return Experiment(rows, labels, all_prompts=False, sweeps=sweeps)


def ordering() -> Experiment:
    taus = ("0.3", "0.5", "0.7")
    fm_rows, fm_labels = sweep_rows("mixed_paper", "FM first (FM for t > tau), paper conversion", taus)
    ddpm_rows, ddpm_labels = sweep_rows("ddpm_first", "DDPM first (DDPM for t > tau), paper conversion", taus)
    return Experiment({**fm_rows, **ddpm_rows}, {**fm_labels, **ddpm_labels}, all_prompts=False)


def conversion() -> Experiment:
    rows = {
        "ddim": ("lone_ddim", None),
        "ancestral": ("lone_ancestral", None),
        "euler": ("lone_euler", None),
        "heun": ("lone_heun", None),
        "fm_alone": ("mixed_paper", "0.0"),
        "fm_cosine_alone": ("same_schedule", "0.0"),
    }
    labels = {
        "ddim": "DDPM expert, native DDIM",
        "ancestral": "DDPM expert, native ancestral DDPM",
        "euler": "DDPM expert converted to velocity, Euler",
        "heun": "DDPM expert converted to velocity, Heun (2 evaluations per step)",
        "fm_alone": "FM expert (linear path) alone, Euler",
        "fm_cosine_alone": "FM expert (cosine path) alone, Euler",
    }
    return Experiment(rows, labels, all_prompts=False)


EXPERIMENTS = {
    "exp1_monolithic_vs_ensemble": routed(
        "monolithic", "monolithic_moe", "top1", "top2", "full", "oracle", "top2_text_router", "digits_top2"
    ),
    "exp2_hetero_vs_homo": routed("top2", "ddpm2_top2"),
    "exp3_threshold_sweep": threshold_sweep(),
    "exp4_ordering": ordering(),
    "exp5_conversion": conversion(),
    "exp6_ddpm_fm_ratio": routed("top2", "ddpm1_top2", "ddpm2_top2", "ddpm4_top2"),
}

E1, E2, E3, E4, E5, E6 = EXPERIMENTS
CLAIMS = [
    Claim(
        E1,
        "Top-2 ensemble beats the monolithic model (FID 22.60 vs 29.64)",
        "top2",
        "monolithic",
        "fid",
        -1,
        "not reproduced: monolithic far better, domain FID 57.6 / 59.7 vs Top-2 173.2 / 164.7",
    ),
    Claim(
        E1,
        "Top-1 is slightly worse than the monolithic model (30.60 vs 29.64)",
        "top1",
        "monolithic",
        "fid",
        +1,
        "reproduced in direction: Top-1 164.3 / 159.4 vs 57.6 / 59.7, far beyond the paper's gap",
    ),
    Claim(
        E1,
        "Top-2 beats Top-1 (22.60 vs 30.60)",
        "top2",
        "top1",
        "fid",
        -1,
        "not reproduced: Top-2 173.2 / 164.7 vs Top-1 164.3 / 159.4",
    ),
    Claim(
        E1,
        "the full ensemble is worst (47.89 vs 22.60)",
        "full",
        "top2",
        "fid",
        +1,
        "reproduced: full 199.0 / 195.7 vs Top-2 173.2 / 164.7",
    ),
    Claim(
        E1,
        "K x the parameters at equal FLOPs: the monolithic model's capacity",
        "monolithic_moe",
        "monolithic",
        "fid",
        0,
    ),
    Claim(E1, "Top-2 against the monolithic model of equal parameters", "top2", "monolithic_moe", "fid", 0),
    Claim(E1, "what a router reading only (x_t, t) loses to the oracle", "top1", "oracle", "fid", 0),
    Claim(E1, "what a router reading only (x_t, t) loses to the oracle", "top1", "oracle", "domain_adherence", 0),
    Claim(E1, "the text-aware router", "top2_text_router", "top2", "domain_adherence", 0),
    Claim(E1, "the text-aware router", "top2_text_router", "top2", "fid", 0),
    Claim(E1, "clusters by domain vs by digit", "digits_top2", "top2", "fid", 0),
    Claim(E1, "clusters by domain vs by digit", "digits_top2", "top2", "domain_adherence", 0),
    Claim(
        E2,
        "heterogeneous beats homogeneous on FID (11.88 vs 12.45)",
        "ddpm2_top2",
        "top2",
        "fid",
        -1,
        "not reproduced: 174.3 / 166.8 vs 173.2 / 164.7",
    ),
    Claim(
        E2,
        "heterogeneous is more diverse (LPIPS 0.631 vs 0.617)",
        "ddpm2_top2",
        "top2",
        "diversity",
        +1,
        "paper's direction, within the spread: 0.311 / 0.311 vs 0.308 / 0.306",
    ),
    Claim(E6, "1 DDPM of 8", "ddpm1_top2", "top2", "fid", 0),
    Claim(E6, "4 DDPM of 8", "ddpm4_top2", "top2", "fid", 0),
    Claim(E6, "4 DDPM of 8", "ddpm4_top2", "top2", "diversity", 0),
    Claim(
        E3,
        "tau = 0.7 degrades FID (vs tau = 0.3)",
        "same_schedule@0.7",
        "same_schedule@0.3",
        "fid",
        +1,
        "reproduced in direction (mixed schedules): 166.7 / 170.2 vs 146.7 / 139.8",
    ),
    Claim(
        E3,
        "tau = 0.7 degrades diversity (vs 0.5)",
        "same_schedule@0.7",
        "same_schedule@0.5",
        "diversity",
        -1,
        "not reproduced: diversity rises with the DDPM share",
    ),
    Claim(E3, "the combination vs FM alone (tau = 0.3)", "same_schedule@0.3", "same_schedule@0.0", "fid", 0),
    Claim(E3, "mixed schedules: s(t) vs paper, tau = 0.5", "mixed_paper_scaled@0.5", "mixed_paper@0.5", "fid", 0),
    Claim(E3, "mixed schedules: snr_matched vs paper, tau = 0.5", "mixed_snr_matched@0.5", "mixed_paper@0.5", "fid", 0),
    *(
        Claim(
            E4,
            f"FM-first is cleaner than DDPM-first, tau = {t}",
            f"ddpm_first@{t}",
            f"mixed_paper@{t}",
            "fid",
            +1,
            "reproduced: DDPM-first 244-275 vs FM-first 137-170",
        )
        for t in ("0.3", "0.5", "0.7")
    ),
    Claim(
        E5,
        "converted Euler is at least as good as native DDIM (25.61 vs 27.04)",
        "euler",
        "ddim",
        "fid",
        -1,
        "not reproduced: converted 263.8 / 280.8 vs native DDIM 257.1 / 275.1",
    ),
    Claim(E5, "converted Euler vs native ancestral", "euler", "ancestral", "fid", 0),
    Claim(E5, "Heun vs Euler on the converted DDPM expert", "heun", "euler", "fid", 0),
    Claim(E5, "FM alone vs converted DDPM alone", "fm_alone", "euler", "fid", 0),
]
BEST_CLAIMS = [
    BestClaim(
        E3,
        "best FID at tau 0.2-0.3 (same schedule)",
        "same_schedule",
        "fid",
        ("0.2", "0.3"),
        "not run in the same-schedule setting",
    ),
    BestClaim(
        E3,
        "best diversity at tau 0.4-0.5 (same schedule)",
        "same_schedule",
        "diversity",
        ("0.4", "0.5"),
        "not run in the same-schedule setting",
    ),
    BestClaim(
        E3,
        "best FID at tau 0.2-0.3 (mixed schedules, paper)",
        "mixed_paper",
        "fid",
        ("0.2", "0.3"),
        "not reproduced: tau 0.4 best, 0.2 worst of 0.2-0.5, inside the spread",
    ),
    BestClaim(
        E3,
        "best diversity at tau 0.4-0.5 (mixed, paper)",
        "mixed_paper",
        "diversity",
        ("0.4", "0.5"),
        "not reproduced: lowest at 0.2-0.3, rising with the DDPM share",
    ),
]
