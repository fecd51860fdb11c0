"""Datasets named from connections: where the data lives (a namespace) and what it is there (a name).

    datasets_of(Connection("postgresql", {"url": "postgresql://app:pw@db:5432/shop", "table": "orders"}))
    # (Dataset(namespace="postgres://db:5432", name="shop.public.orders"),)

Lineage reports these (`pdip.integrator.lineage`); events carry them (`IntegrationStarted.inputs`
and `outputs`). Names follow OpenLineage's dataset naming where it has a convention: PostgreSQL
`postgres://host:port` and `database.schema.table`, MySQL `mysql://host:port` and
`database.table`, Kafka `kafka://host:port` and the topic, object stores `s3://bucket` and the
key, local files `file` and the absolute path. A credential never enters a name: of a URL only
the scheme, host, port and path are kept (no user, password or query), and a query source is
named by a digest of its SQL, never by its text, whose literals may be secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# SQLAlchemy's backend names as OpenLineage's naming spells their schemes.
_SCHEMES = {"postgresql": "postgres", "mariadb": "mysql"}
_SQL_KINDS = ("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb")
_DEFAULT_SCHEMAS = {"postgres": "public"}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset as lineage names it; `fields` are its columns and their types when known."""

    namespace: str
    name: str
    fields: tuple[tuple[str, str], ...] = ()


def datasets_of(connection: Any, root: Path | None = None) -> tuple[Dataset, ...]:
    """The datasets a connection reads or writes (several for a source of several topics);
    relative file paths resolve against `root`, the application's folder."""
    if connection is None:
        return ()
    try:
        return _named(connection, root)
    except Exception:  # noqa: BLE001 - naming never fails a run: the adapter reports a bad connection itself
        return (Dataset(connection.kind, str(connection.settings.get("table") or connection.kind)),)


def _named(connection: Any, root: Path | None) -> tuple[Dataset, ...]:
    settings: Mapping[str, Any] = connection.settings
    kind = connection.kind.lower()
    if "store" in settings:
        return (Dataset("memory", str(settings["store"])),)
    if "bootstrap_servers" in settings:
        return _topics(settings)
    if "path" in settings:
        return (_file(str(settings["path"]), root),)
    if kind == "duckdb":
        return (_duckdb(settings, root),)
    if kind in _SQL_KINDS or "url" in settings or "connection_string" in settings:
        return (_sql(kind, settings, root),)
    return (Dataset(kind, str(settings.get("table") or kind)),)


def field_types(declared: Any) -> tuple[tuple[str, str], ...]:
    """A source's declared columns (`Source.schema`: a `ColumnTypes` or a `pyarrow.Schema`) as
    (name, type) pairs; () when it declared none."""
    from pdip.integrator.types import ColumnTypes

    if declared is None:
        return ()
    described = getattr(declared, "described", None)  # a declaration that names its types itself
    if described is not None:
        return described()
    if isinstance(declared, ColumnTypes):  # SQLAlchemy types, None where unknown
        return tuple((name, _sql_type(kind)) for name, kind in zip(declared.names, declared.types, strict=False))
    return tuple((field.name, str(field.type)) for field in declared)


def _sql_type(kind: Any) -> str:
    if kind is None:
        return "unknown"
    try:
        return str(kind)
    except Exception:  # noqa: BLE001 - a dialect's own type the generic compiler cannot spell
        return type(kind).__name__.upper()


def _topics(settings: Mapping[str, Any]) -> tuple[Dataset, ...]:
    servers = settings["bootstrap_servers"]
    first = (servers if isinstance(servers, str) else servers[0]).split(",")[0].strip()
    topics = settings.get("topics") or settings.get("topic") or ()
    topics = [topics] if isinstance(topics, str) else list(topics)
    return tuple(Dataset(f"kafka://{_host(first)}", str(topic)) for topic in topics)


def _file(path: str, root: Path | None) -> Dataset:
    if "://" in path:
        parts = urllib.parse.urlsplit(path)
        return Dataset(f"{parts.scheme}://{_host(parts.netloc)}", parts.path.lstrip("/"))
    located = Path(path)
    if not located.is_absolute() and root is not None:
        located = Path(root) / located
    return Dataset("file", str(located.absolute()))


def _duckdb(settings: Mapping[str, Any], root: Path | None) -> Dataset:
    database = str(settings.get("database"))
    if database != ":memory:":
        database = _file(database, root).name
    return Dataset(f"duckdb://{database}", _relation(settings, settings.get("schema") or "main"))


def _sql(kind: str, settings: Mapping[str, Any], root: Path | None) -> Dataset:
    from sqlalchemy.engine import make_url

    from pdip.configuration.models.database import DatabaseConfig

    url = settings.get("url") or settings.get("connection_string")
    if url:
        url = make_url(url)
    else:
        parts = {key: settings[key] for key in ("type", "host", "port", "database") if key in settings}
        parts.setdefault("type", kind if kind != "sql" else "sqlite")
        url = DatabaseConfig(**parts).url(root)
    backend = url.get_backend_name()
    scheme = _SCHEMES.get(backend, backend)
    if scheme == "sqlite":
        database = url.database or ":memory:"
        location = database if database == ":memory:" else _file(database, root).name
        return Dataset(f"sqlite://{location}", _relation(settings, None))
    port = f":{url.port}" if url.port else ""
    schema = settings.get("schema") or _DEFAULT_SCHEMAS.get(scheme)
    return Dataset(f"{scheme}://{url.host or 'localhost'}{port}", _relation(settings, schema, url.database))


def _relation(settings: Mapping[str, Any], schema: str | None, database: str | None = None) -> str:
    """`database.schema.table`, leaving out what is not known; a query by a digest of its SQL."""
    table = settings.get("table")
    if not table and settings.get("query"):
        table = "query_" + hashlib.sha256(str(settings["query"]).encode()).hexdigest()[:12]
    return ".".join(str(part) for part in (database, schema, table or "") if part)


def _host(netloc: str) -> str:
    """`host:port` of a network location, without `user:password@`."""
    return netloc.rsplit("@", 1)[-1]
