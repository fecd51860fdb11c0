"""Errors of the integrator, naming the operation file, key path or integration involved."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from pdip.configuration import errors as configuration_errors
from pdip.dependency.errors import PdiConfigurationError


class OperationError(PdiConfigurationError):
    """An operation is invalid: the message names the file, the key path and what was expected.
    Raised while loading a file, `operation` holds its integrations that were whole in themselves
    (None if none was), so that their targets can still be checked."""

    operation = None


class AdapterNotFoundError(OperationError):
    """A connection names a kind no adapter handles."""


class IntegrationFailedError(RuntimeError):
    """An integration stopped; `integration` names it and `__cause__` holds the original error."""

    def __init__(self, integration: str, reason: str):
        self.integration = integration
        super().__init__(f"integration {integration!r} failed: {reason}")


class TransientFailure(IntegrationFailedError):
    """A worker in another process (a reader, an applier, a Dask task) failed on an error its
    store calls transient (`Source.transient`, `Target.transient`): the integration may be tried
    again from its last durable position (`Integration.retries`). Picklable, to cross processes."""

    def __init__(self, integration: str, reason: str):
        self.reason = reason
        super().__init__(integration, reason)

    def __reduce__(self):
        return type(self), (self.integration, self.reason)


class RunRefusedError(RuntimeError):
    """`integrate` refused to start a run, before any data moved; the message says why, names the
    state database, and what to do instead. `pdip run` exits with 2."""


class NothingToResumeError(RunRefusedError):
    """`resume=True` (`--resume`) found no run to continue: the operation's last run finished, or
    the `execution_id` asked for is unknown, finished, or a run of another operation (`found`: the
    operation the stored execution belongs to, None when there is none)."""

    def __init__(self, operation: str, state: str, execution_id: str | None = None, found: str | None = None):
        self.operation, self.execution_id = operation, execution_id
        advice = ""
        if execution_id is None:
            what = f"operation {operation!r} has no unfinished run to resume"
            advice = "; run it without --resume to start a new one"
        elif found is None:
            what = f"no execution {execution_id!r} to resume for operation {operation!r}"
        elif found != operation:
            what = f"execution {execution_id!r} is a run of operation {found!r}, not {operation!r}"
        else:
            what = f"execution {execution_id!r} of operation {operation!r} finished; nothing to resume"
        super().__init__(f"{what} (state database: {state}){advice}")


class ExecutionExistsError(RunRefusedError):
    """A new run was asked for under an `execution_id` the state database already holds; running it
    would overwrite that run's record."""

    def __init__(self, execution_id: str, status: str, state: str):
        self.execution_id, self.status = execution_id, status
        if status == "finished":
            advice = "choose another --execution-id"
        else:
            advice = "continue it with --resume (integrate(..., resume=True)) or choose another --execution-id"
        super().__init__(
            f"execution {execution_id!r} already exists (status {status}, state database: {state}); {advice}"
        )


class UnknownExecutionError(LookupError):
    """No execution with this id in the state database."""

    def __init__(self, execution_id: str, state: str):
        self.execution_id = execution_id
        super().__init__(f"no execution {execution_id!r} in the state database ({state})")


class StoreUnreachableError(RuntimeError):
    """A check that looks at a store (`Target.check`, for `pdip validate`) could not reach it or
    ask it; the message says where (no password) and why. Nothing of that store was checked."""


class UnappliableEntry(ValueError):
    """A change-log entry a keyed store cannot apply; the message is the dead letter's reason."""


class KafkaAssignmentError(RuntimeError):
    """A bounded read was left without partitions (the broker or its group coordinator gone) for
    longer than the consumer's `max.poll.interval.ms`: the read cannot tell that it has ended."""


class MissingPackageError(OperationError, configuration_errors.ConfigurationError):
    """An optional package that a connection or a setting needs is not installed (`needs`). Both an
    operation's and a configuration's error: a caller that catches either kind sees it."""


def needs(module: str, what: str, extra: str, package: str | None = None) -> ModuleType:
    """`module`, an optional library imported when first used, or a `MissingPackageError` saying
    `what` needs it (a plural: "delta connections", "excel files", "webhook alerts
    (INTEGRATOR.ALERTS.WEBHOOKS)") and which pip extra brings it. `package` is the name pip knows
    it by, when that is not the module's own (its first part, `_` as `-`)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = package or module.partition(".")[0].replace("_", "-")
        raise MissingPackageError(f"{what} need the {package} package: pip install 'pdip[{extra}]'") from None


def refuse_unknown(keys: Iterable, known: Iterable[str], prefix: str, what: str) -> None:
    """Raise `OperationError` for the first of `keys` not in `known`, with the closest known key
    suggested (see `pdip.configuration.errors.refuse_unknown`)."""
    configuration_errors.refuse_unknown(keys, known, prefix, what, OperationError)


class SchemaRefusedError(OperationError):
    """A source's columns differ from its target table's in a way the integration's `schema`
    does not allow (a column the table lacks under `freeze`, a wider type under anything but
    `evolve`); raised before the batch that shows it is written."""
