"""A sweep job's folder name, read from its overrides: `tau=0.2_routing=top1` rather than Hydra's override_dirname
(`routing.tau=0.2,routing=top1`, whose values keep their escapes and quotes, and whose slashes nest folders).

Each override becomes `<last key part>=<value>` (the whole dotted key where two last parts coincide), sorted by key
and joined by `_`. A value that is not plain text (a path, spaces, quotes, `=`) is written with its odd characters
as `-` and goes last; a name that lost anything that way, or that is cut to fit a file name, ends in a short hash
of the exact overrides, so two jobs of one sweep never share a folder. Names are the same on every rerun of the same
command: the job bookkeeping finds a finished job's folder again.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

from hydra.core.override_parser.overrides_parser import OverridesParser

NO_OVERRIDES = "defaults"
HASH_CHARS = 8
UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")  # what may stand in a value unchanged (`_`, `=` and `,` separate parts)


def plain_text(value) -> str | None:
    """value as folder-name text, or None when it has characters that must be replaced."""
    if isinstance(value, list):
        items = [None if isinstance(item, (list, dict)) else plain_text(item) for item in value]
        return None if None in items else ",".join(items)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = str(value)
    return text if text and not UNSAFE.search(text) else None


def key_and_value(line: str) -> tuple[str, str, bool]:
    """(key, value text, whether the text is exactly the value) of one override line such as `routing.tau=0.2`."""
    try:
        override = OverridesParser.create().parse_override(line)
    except Exception:  # not a Hydra override (never seen from a sweep): its own text, made safe
        key, _, raw = line.lstrip("+~").partition("=")
        return key, UNSAFE.sub("-", raw).strip("-"), False
    key = override.key_or_group
    if override.is_delete():
        return key, "deleted", False  # unlike a value of that text: the hash tells them apart
    text = plain_text(override.value())
    if text is not None:
        return key, text, True
    return key, UNSAFE.sub("-", override.get_value_element_as_str()).strip("-"), False


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each key's last dotted part, unless another key of the job ends the same way."""
    last = {key: re.split(r"[./]", key)[-1] for key in keys}
    return {key: part if list(last.values()).count(part) == 1 else key for key, part in last.items()}


def job_dirname(overrides: Iterable[str], exclude_keys: Iterable[str] = (), limit: int = 120) -> str:
    """The folder name of the sweep job with these override lines (hydra.overrides.task); exclude_keys are left out
    (the sweep folder already names them)."""
    overrides, excluded = [str(line) for line in overrides], set(exclude_keys)
    parts = [key_and_value(line) for line in overrides]
    parts = [part for part in parts if part[0] not in excluded]
    if not parts:
        return NO_OVERRIDES
    names = short_keys([key for key, _, _ in parts])
    ordered = sorted(parts, key=lambda part: (not part[2], part[0]))  # plain values first: what varies stays readable
    name = "_".join(f"{names[key]}={text}" for key, text, _ in ordered)
    if all(exact for _, _, exact in parts) and len(name) <= limit:
        return name
    digest = hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:HASH_CHARS]
    return f"{name[: limit - HASH_CHARS - 1].rstrip('_-')}_{digest}"
