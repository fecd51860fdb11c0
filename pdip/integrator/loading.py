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
from collections.abc import Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdip.configuration.loader import read_file
from pdip.conversion import ConversionError, convert
from pdip.integrator.errors import OperationError, refuse_unknown
from pdip.integrator.executors import EXECUTORS
from pdip.integrator.integrations import Connection, Integration

if TYPE_CHECKING:
    from pdip.integrator.models import Operation

_OPERATION_KEYS = ("name", "executor", "scheduler", "retries", "connections", "integrations")
_ENDPOINTS = ("source", "target")


def load_operation(
    operation: type[Operation],
    path: Path,
    connections: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str] | None,
) -> Operation:
    """An `operation` (the class, `Operation` or a subclass) read from the YAML file at `path`."""
    data = read_file(path, dict(os.environ if environ is None else environ))
    where = path.name
    _refuse_unknown(data, _OPERATION_KEYS, where, "")
    known = {**_named(connections, where, "CONNECTIONS"), **_named(data.get("connections") or {}, where, "connections")}
    raw_integrations = data.get("integrations")
    if not isinstance(raw_integrations, list) or not raw_integrations:
        raise OperationError(f"{where}: integrations: expected a list of at least one integration")
    integrations = [_integration(item, known, where, f"integrations[{i}]") for i, item in enumerate(raw_integrations)]
    names = [integration.name for integration in integrations]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise OperationError(f"{where}: integrations: names must be unique; repeated: {', '.join(duplicates)}")
    executor = data.get("executor", "process")
    if executor not in EXECUTORS:
        raise OperationError(f"{where}: executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    retries = data.get("retries", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise OperationError(f"{where}: retries: expected 0 or more, got {retries!r}")
    scheduler = data.get("scheduler")
    return operation(
        name=str(data.get("name") or path.stem),
        integrations=integrations,
        executor=executor,
        source_file=path,
        scheduler=None if scheduler is None else str(scheduler),
        retries=retries,
    )


def _named(connections: Any, where: str, key: str) -> dict[str, Connection]:
    if not isinstance(connections, Mapping):
        raise OperationError(f"{where}: {key}: expected a mapping of connection names to settings")
    named = {}
    for name, settings in connections.items():
        if not isinstance(settings, Mapping) or "kind" not in {str(k).lower() for k in settings}:
            raise OperationError(f"{where}: {key}.{name}: expected a mapping with a `kind` (sql, csv, memory, ...)")
        lowered = {str(k).lower(): v for k, v in settings.items()}
        named[str(name)] = Connection(kind=str(lowered.pop("kind")), settings=lowered, name=str(name))
    return named


def _integration(item: Any, known: dict[str, Connection], where: str, path: str) -> Integration:
    if not isinstance(item, Mapping):
        raise OperationError(f"{where}: {path}: expected a mapping with name, source and target")
    fields = {f.name: f for f in dataclasses.fields(Integration)}
    _refuse_unknown(item, fields, where, path)
    if "name" not in item:
        raise OperationError(f"{where}: {path}.name: required")
    if "target" not in item:
        raise OperationError(f"{where}: {path}.target: required")
    hints = typing.get_type_hints(Integration)
    values: dict[str, Any] = {}
    for key, value in item.items():
        if key in _ENDPOINTS:
            values[key] = _endpoint(value, known, where, f"{path}.{key}")
            continue
        try:
            values[key] = convert(value, hints[key], lenient=True)
        except ConversionError as error:
            detail = error.problems[0].detail()
            raise OperationError(f"{where}: {path}.{key}: {detail}") from None
    try:
        return Integration(**values)
    except OperationError as error:
        raise OperationError(f"{where}: {path}: {error}", [f"{where}: {path}: {p}" for p in error.problems]) from None


def _endpoint(value: Any, known: dict[str, Connection], where: str, path: str) -> Connection:
    if not isinstance(value, Mapping):
        raise OperationError(f"{where}: {path}: expected a mapping with `connection` or `kind`")
    settings = {str(k).lower(): v for k, v in value.items()}
    name = settings.pop("connection", None)
    if name is not None:
        base = known.get(str(name))
        if base is None:
            choices = ", ".join(sorted(known)) or "none defined"
            hint = get_close_matches(str(name), list(known), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise OperationError(
                f"{where}: {path}.connection: no connection named {name!r} (known: {choices}){suggestion}"
            )
        kind = settings.pop("kind", base.kind)
        return Connection(kind=str(kind), settings={**base.settings, **settings}, name=base.name)
    if "kind" not in settings:
        raise OperationError(f"{where}: {path}: expected `connection: <name>` or `kind: <adapter kind>`")
    return Connection(kind=str(settings.pop("kind")), settings=settings)


def _refuse_unknown(data: Mapping, known: Any, where: str, path: str) -> None:
    refuse_unknown(data, known, f"{where}: {path}." if path else f"{where}: ", "unknown key")
