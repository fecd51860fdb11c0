"""What can be checked of an operation without moving data, against the adapters' declarations.

The loader checks every endpoint's settings (naming the file and line), the integrator checks an
operation built in Python before its first batch, and `pdip validate` adds what the executor
needs. Each check returns every problem it finds, so a user fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdip.configuration.settings import SettingProblem, problems
from pdip.integrator.adapters.base import Disposition, Target
from pdip.integrator.adapters.registry import BUILT_IN, AdapterRegistry
from pdip.integrator.errors import AdapterNotFoundError, OperationError, StoreUnreachableError
from pdip.integrator.executors import EXECUTORS, executor_class
from pdip.integrator.integrations import Connection, Integration
from pdip.policy.secrets import mask_connection_string

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.adapters.base import Adapter
    from pdip.integrator.models import Operation

ROLES = ("source", "target")


def endpoints(integration: Integration) -> list[tuple[str, Connection]]:
    """The integration's (role, connection) pairs: a target, and a source unless it only runs `sql`."""
    return [(role, getattr(integration, role)) for role in ROLES if getattr(integration, role) is not None]


def connection_problems(
    connection: Connection, mode: str, registry: AdapterRegistry, unknown_kinds: bool = True
) -> list[SettingProblem]:
    """The connection's settings against its kind's declaration in `mode`; a kind no adapter
    serves is a problem of `kind` (or nothing, with `unknown_kinds=False`: an adapter may still be
    registered before the run)."""
    try:
        declared = registry.settings(connection.kind, mode)
    except AdapterNotFoundError as error:
        return [SettingProblem("kind", str(error))] if unknown_kinds else []
    if declared is None:
        return []
    return problems(connection.settings, declared, connection.kind)


def named_connection_problems(connection: Connection, registry: AdapterRegistry) -> list[SettingProblem]:
    """A connection defined by name (application.yml's `CONNECTIONS`) before any integration uses
    it: a setting is wrong when neither the row adapter nor the change-log adapter of its kind
    takes it; required settings may still come from the integration that uses it."""
    found: list[SettingProblem] | None = None
    for mode in ("rows", "changes"):
        try:
            declared = registry.settings(connection.kind, mode)
        except AdapterNotFoundError as error:
            if mode == "rows":
                return [SettingProblem("kind", str(error))]
            continue
        if declared is None:
            return []
        these = problems(connection.settings, declared, connection.kind, required=False)
        wrong = {problem.key for problem in these}
        found = these if found is None else [problem for problem in found if problem.key in wrong]
    return found or []


def operation_problems(
    operation: Operation,
    registry: AdapterRegistry,
    located: Callable[[int, str, SettingProblem], str] | None = None,
    unknown_kinds: bool = True,
) -> list[str]:
    """Every settings problem of the operation, each as `<where>: <key path>: <what>`;
    `located(index, role, problem)` names where a problem's key was written (default: the
    integration's name and the role)."""
    found: list[str] = []
    for index, integration in enumerate(operation.integrations):
        for role, connection in endpoints(integration):
            for problem in connection_problems(connection, integration.mode, registry, unknown_kinds):
                where = (
                    located(index, role, problem)
                    if located
                    else f"integration {integration.name!r}: {role}.{problem.key}"
                )
                message = f"{where}: {problem.detail}"
                if message not in found:  # a named connection used twice is one problem
                    found.append(message)
    return found


def executor_problems(operation: Operation, registry: AdapterRegistry, executor: str | None = None) -> list[str]:
    """What stops the operation's integrations under `executor` (default: the operation's own)."""
    name = executor or operation.executor
    if name not in EXECUTORS:
        return [f"operation {operation.name!r}: executor: expected one of {', '.join(EXECUTORS)}, got {name!r}"]
    chosen = executor_class(name)
    found = []
    for integration in operation.integrations:
        try:
            target = registry.adapter(integration.target.kind, integration.mode).target
        except AdapterNotFoundError:
            continue  # reported as a kind problem
        if target is None:
            continue  # reported as an adapter problem
        reason = chosen.unsuited(integration, target, registry)
        if reason:
            found.append(reason)
    return found


def adapter_problems(operation: Operation, registry: AdapterRegistry) -> list[str]:
    """Sources that cannot be read, targets that cannot be written (their kind is known), and
    reads split in parallel that cannot be."""
    found = parallelism_problems(operation, registry) + disposition_problems(operation, registry)
    for integration in operation.integrations:
        for role, connection in endpoints(integration):
            try:
                adapter = registry.adapter(connection.kind, integration.mode)
            except AdapterNotFoundError:
                continue
            if getattr(adapter, role) is None:
                verb = "read from" if role == "source" else "written to"
                found.append(
                    f"integration {integration.name!r}: {role}: {connection.kind} connections cannot be {verb}"
                )
    return found


def parallelism_problems(operation: Operation, registry: AdapterRegistry) -> list[str]:
    """`parallelism` above 1 for a source whose adapter cannot split a read (it does not declare
    `partitioned_read`): refused, rather than read whole by one reader without a word."""
    found = []
    for integration in operation.integrations:
        source = integration.source
        if integration.parallelism < 2 or source is None:
            continue
        try:
            adapter = registry.adapter(source.kind, integration.mode)
        except AdapterNotFoundError:
            continue  # reported as a kind problem
        if not adapter.capabilities.partitioned_read:
            found.append(
                f"integration {integration.name!r}: parallelism: {integration.parallelism}, but a {source.kind} "
                "source is read whole (it cannot be split); leave parallelism at 1"
            )
    return found


_WRITE_CAPABILITY = {"merge": ("upsert", "upsert rows by key"), "replace": ("replace", "replace its content whole")}


def disposition_problems(operation: Operation, registry: AdapterRegistry) -> list[str]:
    """`write: merge` or `write: replace` into a target whose adapter does not declare it can
    (`Capabilities.upsert` / `replace`): refused, rather than appended without a word. An
    incremental run into a target that replaces its output every run unless told otherwise: refused
    until the connection says which it wants, rather than keeping only the latest run's rows."""
    found = []
    for integration in operation.integrations:
        kind = integration.target.kind
        try:
            adapter = registry.adapter(kind, integration.mode)
        except AdapterNotFoundError:
            continue  # reported as a kind problem
        found.extend(_replaced_each_run(integration, adapter))
        wanted = _WRITE_CAPABILITY.get(integration.write)
        if wanted is None:
            continue
        flag, what = wanted
        if not getattr(adapter.capabilities, flag):
            able = ", ".join(kinds_with(registry, flag)) or "none"
            found.append(
                f"integration {integration.name!r}: write: {integration.write}, but {kind} targets cannot {what} "
                f"(targets that can: {able}); use write: append"
            )
    return found


def _replaced_each_run(integration: Integration, adapter: Adapter) -> list[str]:
    setting = getattr(adapter.target, "keeps_earlier_runs_with", None)
    if integration.mode != "incremental" or setting is None or setting in integration.target.settings:
        return []
    return [
        f"integration {integration.name!r}: mode: incremental writes only the rows after the last run's cursor, "
        f"but a {integration.target.kind} target replaces its output on every run, so it would hold the latest "
        f"run's rows alone; set {setting}: true on the target to add them to it (or {setting}: false if that is "
        "what you want)"
    ]


def kinds_with(registry: AdapterRegistry, flag: str) -> list[str]:
    """The built-in row kinds whose adapters declare the capability `flag`."""
    return [kind for kind in BUILT_IN if getattr(registry.adapter(kind).capabilities, flag)]


@dataclasses.dataclass
class StoreChecks:
    """What the targets' stores said of an operation (`store_problems`): `problems` that would stop
    a run, and the targets `unchecked` because their store could not be reached, each with why."""

    problems: list[str] = dataclasses.field(default_factory=list)
    unchecked: list[str] = dataclasses.field(default_factory=list)


def store_problems(operation: Operation, registry: AdapterRegistry, context: Any) -> StoreChecks:
    """Ask each target that can look at its store (`Target.check`) what would stop its first
    batch: the table missing, no usable key for `write: merge`. The run's own check answers, so
    `pdip validate` and the run refuse the same things. Targets whose adapter has nothing to
    look up are not opened; one that cannot be opened or reached is named, with the reason."""
    found = StoreChecks()
    for integration in operation.integrations:
        adapter = registry.adapter(integration.target.kind, integration.mode)
        if integration.source is None or adapter.target is None or adapter.target.check is Target.check:
            continue  # an integration that only runs SQL, or a target with nothing to look up
        where = f"integration {integration.name!r}: target"
        named = f" (connection {integration.target.name!r})" if integration.target.name else ""
        try:
            target = registry.target(integration.target, context, integration.mode)
        except Exception as error:  # noqa: BLE001 - a driver that is not installed: said, not checked
            reason = mask_connection_string(f"{type(error).__name__}: {error}")
            found.unchecked.append(f"{where}{named}: not checked, it cannot be opened here: {reason}")
            continue
        try:
            target.disposition = Disposition.of(integration)
            target.schema_changes = integration.schema
            for problem in target.check(integration.create_target):  # most name the integration already
                found.problems.append(
                    problem if problem.startswith(f"integration {integration.name!r}:") else f"{where}: {problem}"
                )
        except StoreUnreachableError as error:
            found.unchecked.append(f"{where}{named}: not checked, not reachable: {error}")
        finally:
            target.close()
    return found


def refuse_invalid(operation: Operation, registry: AdapterRegistry) -> None:
    """Raise `OperationError` with every problem of an operation built in Python that can be
    found before anything runs: settings, splits of reads that cannot split, what the executor
    cannot run (no Dask cluster is started for an operation it would refuse)."""
    found = [
        *operation_problems(operation, registry, unknown_kinds=False),
        *parallelism_problems(operation, registry),
        *disposition_problems(operation, registry),
        *executor_problems(operation, registry),
    ]
    if found:
        raise OperationError(f"operation {operation.name!r}: " + "; ".join(found), found)
