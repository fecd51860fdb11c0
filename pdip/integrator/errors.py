"""Errors of the integrator, naming the operation file, key path or integration involved."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from pdip.dependency.errors import PdiConfigurationError


class OperationError(PdiConfigurationError):
    """An operation is invalid: the message names the file, the key path and what was expected."""


class AdapterNotFoundError(OperationError):
    """A connection names a kind no adapter handles."""


class IntegrationFailedError(RuntimeError):
    """An integration stopped; `integration` names it and `__cause__` holds the original error."""

    def __init__(self, integration: str, reason: str):
        self.integration = integration
        super().__init__(f"integration {integration!r} failed: {reason}")


def refuse_unknown(keys: Iterable, known: Iterable[str], prefix: str, what: str) -> None:
    """Raise `OperationError` for the first of `keys` not in `known`: `<prefix><key>: <what>
    (expected one of ...)`, with the closest known key suggested."""
    known = list(known)
    for key in keys:
        if key not in known:
            hint = get_close_matches(str(key), known, n=1)
            suggestion = f"; did you mean {hint[0]}?" if hint else ""
            raise OperationError(f"{prefix}{key}: {what} (expected one of {', '.join(known)}){suggestion}")
