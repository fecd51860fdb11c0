"""Which adapter serves which connection kind. A new store is one module and one line here.

Adapters are imported when first used, so an operation between memory stores never imports a
database driver.
"""

from __future__ import annotations

import importlib
from typing import Any

from pdip.dependency import ISingleton
from pdip.integrator.adapters.base import Adapter, Source, Target
from pdip.integrator.errors import AdapterNotFoundError
from pdip.integrator.models import Connection

BUILT_IN = {
    "memory": "pdip.integrator.adapters.memory",
    **dict.fromkeys(("sql", "sqlite", "postgresql", "postgres", "mysql", "mariadb"), "pdip.integrator.adapters.sql"),
    **dict.fromkeys(("csv", "jsonl", "json_lines", "parquet", "excel"), "pdip.integrator.adapters.file"),
}


class AdapterRegistry(ISingleton):
    def __init__(self):
        self._adapters: dict[str, Adapter] = {}

    def register(self, adapter: Adapter) -> None:
        for kind in adapter.kinds:
            self._adapters[kind.lower()] = adapter

    def adapter(self, kind: str) -> Adapter:
        adapter = self._adapters.get(kind.lower())
        if adapter is None and kind.lower() in BUILT_IN:
            module = importlib.import_module(BUILT_IN[kind.lower()])
            for built_in in getattr(module, "ADAPTERS", None) or (module.ADAPTER,):  # kinds differing in capabilities
                self.register(built_in)
            adapter = self._adapters[kind.lower()]
        if adapter is None:
            known = ", ".join(sorted({*BUILT_IN, *self._adapters}))
            raise AdapterNotFoundError(f"no adapter for connection kind {kind!r} (known: {known})")
        return adapter

    def source(self, connection: Connection, context: Any) -> Source:
        adapter = self.adapter(connection.kind)
        if adapter.source is None:
            raise AdapterNotFoundError(f"{connection.kind} connections cannot be read from")
        return adapter.source(connection, context)

    def target(self, connection: Connection, context: Any) -> Target:
        adapter = self.adapter(connection.kind)
        if adapter.target is None:
            raise AdapterNotFoundError(f"{connection.kind} connections cannot be written to")
        return adapter.target(connection, context)
