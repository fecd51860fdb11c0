"""How a place inside nested data is written: `orders[3].status`.

Tracked containers write the path of every change this way, and field policies read it back:
a string key is written as is (`.status`, no leading dot at the top), a list position or any
other key in brackets (`[3]`, `[(1, 2)]`), a slice as `[1:3]`. Keys are not quoted, so a key
that itself holds a dot reads as two steps; paths are for people and policies, not for
addressing values exactly (the entry's `key` keeps the real key).
"""

from __future__ import annotations

import re
from typing import Any

# One step of a path: a bracketed index or slice, or a run of characters up to the next dot or bracket.
_STEP = re.compile(r"\[[^\]]*\]|[^.\[]+")


def segment(key: Any) -> str:
    """The path step for `key`: `name` for a string, `[3]` for anything else."""
    if type(key) is str:
        return key
    if type(key) is int:
        return f"[{key}]"
    return f"[{key!r}]"


def join(prefix: str, step: str) -> str:
    """`prefix` followed by one step: `orders` + `[3]` -> `orders[3]`, `orders[3]` + `status` -> `orders[3].status`."""
    if not prefix:
        return step
    if step.startswith("["):
        return prefix + step
    return f"{prefix}.{step}"


def steps(path: str | None) -> list[str]:
    """The steps of a path as written: `orders[3].status` -> `["orders", "[3]", "status"]`."""
    return _STEP.findall(path) if path else []


def slice_text(start: int, stop: int, step: int = 1) -> str:
    """`1:3` for a slice, `1:9:2` with a step; the text inside the brackets of a slice step."""
    return f"{start}:{stop}" if step == 1 else f"{start}:{stop}:{step}"
