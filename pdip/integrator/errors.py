"""Errors of the integrator, naming the operation file, key path or integration involved."""

from __future__ import annotations

from collections.abc import Iterable

from pdip.configuration import errors as configuration_errors
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


class UnappliableEntry(ValueError):
    """A change-log entry a keyed store cannot apply; the message is the dead letter's reason."""


class KafkaAssignmentError(RuntimeError):
    """A bounded read was left without partitions (the broker or its group coordinator gone) for
    longer than the consumer's `max.poll.interval.ms`: the read cannot tell that it has ended."""


def refuse_unknown(keys: Iterable, known: Iterable[str], prefix: str, what: str) -> None:
    """Raise `OperationError` for the first of `keys` not in `known`, with the closest known key
    suggested (see `pdip.configuration.errors.refuse_unknown`)."""
    configuration_errors.refuse_unknown(keys, known, prefix, what, OperationError)
