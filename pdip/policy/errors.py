"""Errors of the policy area: a policy file that cannot be used says which file, which rule and why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pdip.dependency.errors import PdiConfigurationError


def unknown_key(key: Any, known: Sequence[str]) -> str:
    """`unknown key 'x'`, then the closest known key, or all of them when none is close."""
    import difflib  # only a misspelt key needs it

    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]}?" if close else f" (known keys: {', '.join(known)})"
    return f"unknown key {key!r}{hint}"


class PolicyError(PdiConfigurationError):
    """Base of the errors raised by pdip.policy."""


class PolicyFileError(PolicyError):
    """A policy file is missing, unreadable or malformed.

    `file` is the file's path, `rule` the 1-based position of the offending rule in its `rules`
    list (None when the problem is not in one rule) and `problem` what is wrong and what was
    expected."""

    def __init__(self, file: str, problem: str, rule: int | None = None):
        self.file = file
        self.rule = rule
        self.problem = problem
        where = f"{file}: rule {rule}" if rule is not None else file
        super().__init__(f"{where}: {problem}")


class MissingSaltError(PolicyError):
    """A rule hashes values but no salt was given: unsalted hashes of e-mail addresses or phone
    numbers are reversed by simply hashing every candidate."""


class RecordDropped(Exception):
    """Raised inside the walk over a record when a drop_record rule fires; the policy catches it
    and drops the record (never seen outside pdip.policy)."""
