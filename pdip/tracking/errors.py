"""Errors of the tracking area, each naming what was given and what was expected."""

from __future__ import annotations

from pdip.dependency.errors import PdiConfigurationError


class TrackingError(Exception):
    """Base of the errors raised by pdip.tracking."""


class ObserverConfigError(TrackingError, PdiConfigurationError):
    """An observer described in configuration (YAML, JSON or a list of mappings) is wrong.

    The message names the file (when there is one), the observer's position (1-based), its
    type and the field that is wrong, and says what was expected."""

    def __init__(self, problem: str, *, source: str | None = None, index: int | None = None, kind: str | None = None):
        self.source = source
        self.index = index
        self.kind = kind
        self.problem = problem
        where = [source] if source else []
        if index is not None:
            where.append(f"observer {index}" + (f" ({kind})" if kind else ""))
        super().__init__(f"{': '.join(where)}: {problem}" if where else problem)


class ExportError(TrackingError):
    """An exporter could not write a batch out of the process; its entries wait for the next
    flush. The message names where (without credentials) and why, never the entries' values."""
