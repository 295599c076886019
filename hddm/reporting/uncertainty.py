"""A metric's recorded uncertainty, found among a result's flat numbers by name: a sibling std / sem (value ± it),
or low / high bounds (an interval), e.g. diversity's {"mean", "std"} or a bootstrap's {"estimate", "low", "high"}."""

from __future__ import annotations

from typing import NamedTuple

SPREAD_KINDS = ("std", "sem")  # symmetric: value ± spread
BOUND_KINDS = (("low", "high"), ("ci_low", "ci_high"), ("lower", "upper"))  # an interval around the value
VALUE_KEYS = ("mean", "estimate", "value")  # what a sibling uncertainty belongs to, when not the stem itself


class Uncertainty(NamedTuple):
    low: float
    high: float
    text: str  # as the table shows it after the value
    keys: tuple[str, ...]  # the result's numbers it was read from


def split_kind(key: str, kind: str) -> str | None:
    """The stem of "stem.kind" or "stem_kind", None when key ends in neither."""
    for separator in (".", "_"):
        if key.endswith(separator + kind) and len(key) > len(kind) + 1:
            return key[: -len(kind) - 1]
    return None


def value_key(stem: str, numbers: dict[str, float]) -> str | None:
    candidates = [stem, *(f"{stem}{separator}{name}" for name in VALUE_KEYS for separator in (".", "_"))]
    return next((key for key in candidates if key in numbers), None)


def uncertainties(numbers: dict[str, float]) -> dict[str, Uncertainty]:
    """metric -> its recorded uncertainty, from the flat numbers of one result."""
    found = {}
    for key in numbers:
        for kind in SPREAD_KINDS:
            if (stem := split_kind(key, kind)) is not None and (value := value_key(stem, numbers)):
                spread = numbers[key]
                found[value] = Uncertainty(numbers[value] - spread, numbers[value] + spread, f"± {spread:.3g}", (key,))
        for low_kind, high_kind in BOUND_KINDS:
            stem = split_kind(key, low_kind)
            high = stem and next((h for h in (f"{stem}.{high_kind}", f"{stem}_{high_kind}") if h in numbers), None)
            if high and (value := value_key(stem, numbers)):
                low_value, high_value = numbers[key], numbers[high]
                found[value] = Uncertainty(low_value, high_value, f"[{low_value:.4g}, {high_value:.4g}]", (key, high))
    return found
