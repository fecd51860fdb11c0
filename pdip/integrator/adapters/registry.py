"""Which adapter serves which connection kind. A new store is one module and one line here.

Adapters are imported when first used, so an operation between memory stores never imports a
database driver. Row mode and change-log mode (`mode: changes`) have their own adapters: the
same SQL connection reads a table in one and the outbox in the other.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from pdip.configuration.settings import Setting
from pdip.dependency import ISingleton
from pdip.integrator.adapters.base import Adapter, Capabilities, Source, Target
from pdip.integrator.errors import AdapterNotFoundError
from pdip.integrator.integrations import Connection

BUILT_IN = {
    "memory": "pdip.integrator.adapters.memory",
    **dict.fromkeys(
        ("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle"),
        "pdip.integrator.adapters.sql.rows",
    ),
    **dict.fromkeys(("csv", "jsonl", "json_lines", "parquet", "excel"), "pdip.integrator.adapters.file.rows"),
    "kafka": "pdip.integrator.adapters.kafka.topics",
    "duckdb": "pdip.integrator.adapters.duckdb",
    "rest": "pdip.integrator.adapters.rest.rows",
    "soap": "pdip.integrator.adapters.soap",
    "delta": "pdip.integrator.adapters.lakehouse.delta",
    "iceberg": "pdip.integrator.adapters.lakehouse.iceberg",
    **dict.fromkeys(("clickhouse", "chdb"), "pdip.integrator.adapters.clickhouse"),
}
CHANGES_BUILT_IN: dict[str, str] = {
    "memory": "pdip.integrator.adapters.memory_changes",
    **dict.fromkeys(
        ("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb"), "pdip.integrator.adapters.sql.changes"
    ),
    **dict.fromkeys(("jsonl", "json_lines"), "pdip.integrator.adapters.file.changes"),
    "kafka": "pdip.integrator.adapters.kafka.topics",
}


class AdapterRegistry(ISingleton):
    def __init__(self):
        self._adapters: dict[tuple[str, str], Adapter] = {}

    def register(self, adapter: Adapter) -> None:
        for kind in adapter.kinds:
            self._adapters[kind.lower(), adapter.mode] = adapter

    def knows(self, kind: str, mode: str = "rows") -> bool:
        """Whether an adapter serves `kind` in `mode` (built in, or registered)."""
        family = _family(mode)
        built_in = CHANGES_BUILT_IN if family == "changes" else BUILT_IN
        return kind.lower() in built_in or (kind.lower(), family) in self._adapters

    def adapter(self, kind: str, mode: str = "rows") -> Adapter:
        key = (kind.lower(), _family(mode))
        built_in = (CHANGES_BUILT_IN if key[1] == "changes" else BUILT_IN).get(key[0])
        if key not in self._adapters and built_in:
            module = importlib.import_module(built_in)
            for found in getattr(module, "ADAPTERS", None) or (module.ADAPTER,):  # kinds differing in capabilities
                self.register(found)
        adapter = self._adapters.get(key)
        if adapter is None:
            table = CHANGES_BUILT_IN if key[1] == "changes" else BUILT_IN
            known = ", ".join(sorted({*table, *(kind for kind, family in self._adapters if family == key[1])}))
            what = "change-log " if key[1] == "changes" else ""
            raise AdapterNotFoundError(f"no {what}adapter for connection kind {kind!r} (known: {known or 'none'})")
        return adapter

    def settings(self, kind: str, mode: str = "rows") -> tuple[Setting, ...] | None:
        """The settings a connection of `kind` takes in `mode`; None when its adapter declares none."""
        return self.adapter(kind, mode).settings

    def declared(self) -> list[tuple[str, tuple[Setting, ...]]]:
        """The built-in kinds' settings as (kinds, settings) groups, for the docs: a change-log
        adapter's group holds only what its row adapter does not already take."""
        groups: list[tuple[str, tuple[Setting, ...]]] = []
        for table, mode in ((BUILT_IN, "rows"), (CHANGES_BUILT_IN, "changes")):
            seen: dict[int, list[str]] = {}
            for kind in table:
                seen.setdefault(id(self.adapter(kind, mode)), []).append(kind)
            for kinds in seen.values():
                declared = self.adapter(kinds[0], mode).settings or ()
                if mode == "changes" and kinds[0] in BUILT_IN:
                    rows = self.adapter(kinds[0]).settings or ()
                    declared = tuple(setting for setting in declared if setting not in rows)
                if declared:
                    label = ", ".join(kinds) + (" (changes)" if mode == "changes" else "")
                    groups.append((label, declared))
        return groups

    def capability_table(self) -> str:
        """The built-in adapters' capabilities as a Markdown table, for the docs (a test keeps
        docs/integrator.md equal to it)."""
        flags = [field.name for field in dataclasses.fields(Capabilities)]
        lines = ["| kinds | mode | " + " | ".join(f"`{flag}`" for flag in flags) + " |"]
        lines.append("| --- | --- |" + " --- |" * len(flags))
        for table, mode in ((BUILT_IN, "rows"), (CHANGES_BUILT_IN, "changes")):
            seen: dict[int, list[str]] = {}
            for kind in table:
                seen.setdefault(id(self.adapter(kind, mode)), []).append(kind)
            for kinds in seen.values():
                capabilities = self.adapter(kinds[0], mode).capabilities
                marks = ["yes" if getattr(capabilities, flag) else "" for flag in flags]
                lines.append(f"| {', '.join(kinds)} | {mode} | " + " | ".join(marks) + " |")
        return "\n".join(lines) + "\n"

    def source(self, connection: Connection, context: Any, mode: str = "rows") -> Source:
        adapter = self.adapter(connection.kind, mode)
        if adapter.source is None:
            raise AdapterNotFoundError(f"{connection.kind} connections cannot be read from")
        return adapter.source(connection, context)

    def target(self, connection: Connection, context: Any, mode: str = "rows") -> Target:
        adapter = self.adapter(connection.kind, mode)
        if adapter.target is None:
            raise AdapterNotFoundError(f"{connection.kind} connections cannot be written to")
        return adapter.target(connection, context)


def _family(mode: str) -> str:
    """Full and incremental reads share the row adapters; `changes` has its own."""
    return "changes" if mode == "changes" else "rows"
