"""Operations from YAML, with errors that name the file, the key path and what was expected.

    name: nightly
    connections:                      # optional; application.yml's CONNECTIONS are known too
      warehouse: {kind: postgresql, host: db, database: dw, password: "${DW_PASSWORD}"}
    integrations:
      - name: orders
        source: {connection: warehouse, table: orders}
        target: {kind: csv, path: out/orders.csv}

`${VAR}` and `${VAR:-default}` are replaced from the environment, as in application.yml. A
source or target names a connection (whose settings it may extend) or gives a `kind` itself.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdip.configuration.errors import closest, unknown_keys
from pdip.configuration.loader import Document, read_document
from pdip.configuration.settings import SettingProblem
from pdip.conversion import ConversionError, convert
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.checks import adapter_problems, connection_problems, executor_problems
from pdip.integrator.errors import OperationError
from pdip.integrator.executors import EXECUTORS
from pdip.integrator.integrations import Connection, Integration

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.models import Operation

_OPERATION_KEYS = ("name", "executor", "scheduler", "retries", "connections", "integrations")
_ENDPOINTS = ("source", "target")


def load_operation(
    operation: type[Operation],
    path: Path,
    connections: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str] | None,
    where: Callable[[str], str | None] | None = None,
    registry: AdapterRegistry | None = None,
    executor_override: str | None = None,
) -> Operation:
    """The operation in `path`, or `OperationError` listing every problem of the file.

    `where(dotted key path)` names the file and line of a key of `connections` (application.yml's
    `CONNECTIONS`, through `Configuration.where`). Every endpoint's settings are checked against
    its kind's declaration; a kind `registry` does not know is a problem only when a registry is
    given (without one, an adapter may still be registered before the run); with a registry,
    what the adapters and the executor (`executor_override`, else the file's) cannot do is among the
    problems too, so that one pass shows them all."""
    document = read_document(path, dict(os.environ if environ is None else environ))
    data = document.data
    where_file = path.name
    problems = unknown_keys(data, _OPERATION_KEYS, f"{where_file}: ", "unknown key")
    known = {
        **named_connections(connections, where_file, "CONNECTIONS"),
        **named_connections(data.get("connections") or {}, where_file, "connections"),
    }
    raw_integrations = data.get("integrations")
    if not isinstance(raw_integrations, list) or not raw_integrations:
        problems.append(f"{where_file}: integrations: expected a list of at least one integration")
        raise OperationError("; ".join(problems), problems)
    integrations = []
    checked: list[tuple[int, str, Connection, str]] = []  # endpoints, checked even when their integration is wrong
    for index, item in enumerate(raw_integrations):
        integration, ends, mode = _integration(item, known, where_file, f"integrations[{index}]", problems)
        if integration is not None:
            integrations.append((index, integration))
        checked.extend((index, role, connection, mode) for role, connection in ends.items())
    names = [integration.name for _, integration in integrations]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"{where_file}: integrations: names must be unique; repeated: {', '.join(duplicates)}")
    executor = data.get("executor", "process")
    if executor not in EXECUTORS:
        problems.append(f"{where_file}: executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    retries = data.get("retries", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        problems.append(f"{where_file}: retries: expected 0 or more, got {retries!r}")
    located = _Locations(document, connections, where)
    misread: set[int] = set()  # integrations whose source or target settings are wrong
    for index, role, connection, mode in checked:
        for problem in connection_problems(connection, mode, registry or AdapterRegistry(), registry is not None):
            misread.add(index)
            message = f"{located(index, role, connection, problem)}: {problem.detail}"
            if message not in problems:  # a named connection used twice is one problem
                problems.append(message)
    scheduler = data.get("scheduler")
    loaded = operation(
        name=str(data.get("name") or path.stem),
        integrations=[integration for _, integration in integrations],
        executor=executor,
        source_file=path,
        scheduler=None if scheduler is None else str(scheduler),
        retries=retries,
    )
    if registry is not None and integrations:
        chosen = next((name for name in (executor_override, executor) if name in EXECUTORS), None)
        what_runs = adapter_problems(loaded, registry) + (executor_problems(loaded, registry, chosen) if chosen else [])
        problems.extend(f"{where_file}: {problem}" for problem in what_runs)
    if problems:
        error = OperationError("; ".join(problems), problems)
        whole = [integration for index, integration in integrations if index not in misread]
        error.operation = dataclasses.replace(loaded, integrations=whole) if whole else None  # for `pdip validate`
        raise error
    return loaded


class _Locations:
    """Where a setting was written: `op.yml:7: integrations[0].target.databse`, or in the named
    connection it came from (`connections.dw.hots`, application.yml's `CONNECTIONS.dw.hots`)."""

    def __init__(self, document: Document, application: Mapping, where: Callable[[str], str | None] | None):
        self.document, self.data, self.where = document, document.data, where
        self.application = application

    def __call__(self, index: int, role: str, connection: Connection, problem: SettingProblem) -> str:
        parts = problem.key.split(".")
        name = connection.name
        ours, theirs = _item(self.data.get("connections"), name), _item(self.application, name)
        if _item(self.data["integrations"][index].get(role), parts[0]) is None:
            if _item(ours, parts[0]) is not None:
                return f"{self.document.where('connections', name, *parts)}: connections.{name}.{problem.key}"
            if ours is None and _item(theirs, parts[0]) is not None:
                key = f"CONNECTIONS.{name}.{problem.key}"
                return f"{(self.where and self.where(key)) or 'application.yml'}: {key}"
        line = self.document.where("integrations", index, role, *parts)
        return f"{line}: integrations[{index}].{role}.{problem.key}"


def _item(mapping: Any, key: str | None) -> Any:
    """`mapping[key]` with the key compared lower-case; None when absent or not a mapping."""
    if not isinstance(mapping, Mapping) or key is None:
        return None
    return next((value for name, value in mapping.items() if str(name).lower() == key.lower()), None)


def named_connections(connections: Any, where: str, key: str) -> dict[str, Connection]:
    if not isinstance(connections, Mapping):
        raise OperationError(f"{where}: {key}: expected a mapping of connection names to settings")
    named = {}
    for name, settings in connections.items():
        if not isinstance(settings, Mapping) or "kind" not in {str(k).lower() for k in settings}:
            raise OperationError(f"{where}: {key}.{name}: expected a mapping with a `kind` (sql, csv, memory, ...)")
        lowered = {str(k).lower(): v for k, v in settings.items()}
        named[str(name)] = Connection(kind=str(lowered.pop("kind")), settings=lowered, name=str(name))
    return named


def _integration(
    item: Any, known: dict[str, Connection], where: str, path: str, problems: list[str]
) -> tuple[Integration | None, dict[str, Connection], str]:
    """The integration `item` describes (None when it has a problem), the endpoints it names and
    its mode, which the caller checks the endpoints' settings in even when the integration itself
    is wrong; every problem of `item` is added to `problems`."""
    if not isinstance(item, Mapping):
        problems.append(f"{where}: {path}: expected a mapping with name, source and target")
        return None, {}, "full"
    fields = [f.name for f in dataclasses.fields(Integration)]
    found = unknown_keys(item, fields, f"{where}: {path}.", "unknown key")
    found.extend(f"{where}: {path}.{key}: required" for key in ("name", "target") if key not in item)
    hints = typing.get_type_hints(Integration)
    values: dict[str, Any] = {}
    ends: dict[str, Connection] = {}
    for key, value in item.items():
        if key in _ENDPOINTS:
            try:
                ends[key] = values[key] = _endpoint(value, known, where, f"{path}.{key}")
            except OperationError as error:
                found.extend(error.problems)
        elif key in hints:
            try:
                values[key] = convert(value, hints[key], lenient=True, path=f"{path}.{key}")
            except ConversionError as error:
                found.extend(f"{where}: {problem.describe()}" for problem in error.problems)
    mode = values.get("mode", "full")
    problems.extend(found)
    if found:
        return None, ends, mode
    try:
        return Integration(**values), ends, mode
    except OperationError as error:
        named = f"{where}: {path}: integration {values['name']!r}"
        problems.extend(f"{named}: {problem}" for problem in error.problems)
        return None, ends, mode


def _endpoint(value: Any, known: dict[str, Connection], where: str, path: str) -> Connection:
    if not isinstance(value, Mapping):
        raise OperationError(f"{where}: {path}: expected a mapping with `connection` or `kind`")
    settings = {str(k).lower(): v for k, v in value.items()}
    name = settings.pop("connection", None)
    if name is not None:
        base = known.get(str(name))
        if base is None:
            choices = ", ".join(sorted(known)) or "none defined"
            suggestion = closest(str(name), known, quoted=True)
            raise OperationError(
                f"{where}: {path}.connection: no connection named {name!r} (known: {choices}){suggestion}"
            )
        kind = settings.pop("kind", base.kind)
        return Connection(kind=str(kind), settings={**base.settings, **settings}, name=base.name)
    if "kind" not in settings:
        raise OperationError(f"{where}: {path}: expected `connection: <name>` or `kind: <adapter kind>`")
    return Connection(kind=str(settings.pop("kind")), settings=settings)
