"""Class adherence on a labelled image set: the share of images generated for a prompt that names a class which the
set's metric classifier (hddm.models.metric_classifier) reads as that class. An offline, data-specific stand-in for
CLIP score, named as such; its ceiling is the classifier's own held-out accuracy, which every result records."""

from __future__ import annotations

import re

METRIC_NAME = "class_adherence_metric_classifier"


def wanted_class(prompt: str, class_names: list[str]) -> int | None:
    """The class a prompt names (whole words, case-insensitive; the longest name wins: "sports car" over "car")."""
    found = [
        (len(name), index)
        for index, name in enumerate(class_names)
        if re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", prompt.lower())
    ]
    return max(found)[1] if found else None
