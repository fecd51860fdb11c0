"""Observers described as data: a YAML or JSON file, or a list of mappings from configuration.

    # observers.yml
    - type: jsonl
      path: changes.jsonl
      batch_size: 500
    - type: collector
      limit: 100
      priority: 10

    observers = observers_from_config("observers.yml")
    cart = TrackedDict(observers=observers)

Types: `collector` (limit), `callback` (function: "package.module:name", actions, paths,
entities), `jsonl` (path, batch_size, max_delay, max_pending, fsync), `sql` (url, table, schema,
create_table, batch_size, max_delay, max_pending), `kafka` (batch_size, max_delay, max_pending,
and the Kafka client settings of `pdip.messaging.kafka`: bootstrap_servers, topic, ...); each
also takes `priority`. Relative paths
are read from the folder of the file that names them (else from `base_directory`, else the
current folder). A file may also hold a mapping with an `observers:` list.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pdip.conversion import ConversionError, convert
from pdip.messaging.errors import KafkaSettingsError
from pdip.tracking.errors import ObserverConfigError
from pdip.tracking.exporters import JsonLinesExporter, SqlExporter
from pdip.tracking.kafka_exporter import LABEL as _KAFKA_LABEL
from pdip.tracking.kafka_exporter import KafkaExporter
from pdip.tracking.observers import CallbackObserver, ChangeCollector


@dataclasses.dataclass
class _Collector:
    limit: int | None = 1_000
    priority: int = 0


@dataclasses.dataclass
class _Callback:
    function: str
    actions: list[str] | None = None
    paths: list[str] | None = None
    entities: list[str] | None = None
    priority: int = 0


@dataclasses.dataclass
class _JsonLines:
    path: str
    batch_size: int = 100
    max_delay: float | None = None
    max_pending: int = 100_000
    fsync: bool = True
    priority: int = 0


@dataclasses.dataclass
class _Sql:
    url: str
    table: str | None = None
    schema: str | None = None
    create_table: bool = False
    batch_size: int = 500
    max_delay: float | None = None
    max_pending: int = 100_000
    priority: int = 0


@dataclasses.dataclass
class _Kafka:
    """The exporter's own fields; every other key is a Kafka client setting, checked there."""

    settings: dict[str, Any]
    batch_size: int = 500
    max_delay: float | None = None
    max_pending: int = 100_000
    priority: int = 0


_SPECS: dict[str, type] = {
    "collector": _Collector,
    "callback": _Callback,
    "jsonl": _JsonLines,
    "sql": _Sql,
    "kafka": _Kafka,
}
_KAFKA_OWN = ("batch_size", "max_delay", "max_pending", "priority")


def observers_from_config(
    source: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | os.PathLike[str],
    *,
    base_directory: str | os.PathLike[str] | None = None,
) -> list[Callable[[Any], Any]]:
    """The observers `source` describes, in its order, each with its `priority` attribute set."""
    where: str | None = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        source = _read(path)
        base_directory = path.parent
    if isinstance(source, Mapping):
        source = source.get("observers", None) if set(source) == {"observers"} else None
    if not isinstance(source, Sequence) or isinstance(source, (str, bytes)):
        raise ObserverConfigError("expected a list of observers (or a mapping with an `observers:` list)", source=where)
    base = Path(base_directory) if base_directory is not None else Path.cwd()
    return [_build(item, index, where, base) for index, item in enumerate(source, 1)]


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ObserverConfigError(f"cannot read the file ({error.strerror or error})", source=str(path)) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as error:
            raise ObserverConfigError(f"not valid JSON: {error}", source=str(path)) from None
    import yaml  # imported on use: most applications never read observers from a file

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ObserverConfigError(f"not valid YAML: {error}", source=str(path)) from None


def _build(item: Any, index: int, where: str | None, base: Path) -> Callable[[Any], Any]:
    if not isinstance(item, Mapping):
        raise ObserverConfigError(f"expected a mapping with a `type:`, got {item!r}", source=where, index=index)
    fields = dict(item)
    kind = fields.pop("type", None)
    if kind == "kafka":  # the client settings are checked by the client's own rules, in _make
        fields = {"settings": {key: value for key, value in fields.items() if key not in _KAFKA_OWN}} | {
            key: value for key, value in fields.items() if key in _KAFKA_OWN
        }
    if kind not in _SPECS:
        known = ", ".join(sorted(_SPECS))
        raise ObserverConfigError(f"type: expected one of {known}; got {kind!r}", source=where, index=index)
    try:
        spec = convert(fields, _SPECS[kind])
    except ConversionError as error:
        raise ObserverConfigError(str(error), source=where, index=index, kind=kind) from None
    try:
        return _make(spec, base)
    except KafkaSettingsError as error:
        problem = str(error).replace(f"{_KAFKA_LABEL}: ", "")
        raise ObserverConfigError(problem, source=where, index=index, kind=kind) from None
    except (ValueError, TypeError, ImportError, AttributeError) as error:
        raise ObserverConfigError(str(error), source=where, index=index, kind=kind) from None


def _make(spec: Any, base: Path) -> Callable[[Any], Any]:
    if isinstance(spec, _Collector):
        return ChangeCollector(spec.limit, priority=spec.priority)
    if isinstance(spec, _Callback):
        return CallbackObserver(
            _function(spec.function),
            actions=spec.actions,
            paths=spec.paths,
            entities=spec.entities,
            priority=spec.priority,
        )
    if isinstance(spec, _JsonLines):
        return JsonLinesExporter(
            base / spec.path,
            batch_size=spec.batch_size,
            max_delay=spec.max_delay,
            max_pending=spec.max_pending,
            fsync=spec.fsync,
            priority=spec.priority,
        )
    if isinstance(spec, _Kafka):
        return KafkaExporter(
            spec.settings,
            batch_size=spec.batch_size,
            max_delay=spec.max_delay,
            max_pending=spec.max_pending,
            priority=spec.priority,
        )
    return SqlExporter(
        spec.url,
        table=spec.table,
        schema=spec.schema,
        create_table=spec.create_table,
        batch_size=spec.batch_size,
        max_delay=spec.max_delay,
        max_pending=spec.max_pending,
        priority=spec.priority,
    )


def _function(reference: str) -> Callable[[Any], Any]:
    """`package.module:name` (or `package.module.name`) -> the object it names."""
    module_name, _, name = reference.partition(":") if ":" in reference else reference.rpartition(".")
    if not module_name or not name:
        raise ValueError(f"function: expected 'package.module:name', got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"function: cannot import {module_name!r} ({error})") from None
    target: Any = module
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise AttributeError(f"function: {module_name} has no {name!r}")
    return target
