"""What an operation is: integrations, run in order, each moving rows from a source to a target.

    Operation(name="nightly", integrations=[
        Integration(name="orders", source=Connection("memory", {"store": "orders"}),
                    target=Connection("memory", {"store": "copy"})),
    ])

A `Connection` is a kind (`memory`, `sql`, `csv`, ...) and its settings, which also say *what*
to read or write (a table, a query, a file, a store). Operations are built in Python or loaded
from YAML (`Operation.from_yaml`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pdip.integrator.integrations import MODES, Connection, Integration, Mode
from pdip.integrator.loading import load_operation

__all__ = ["MODES", "Connection", "Integration", "Mode", "Operation"]


@dataclasses.dataclass
class Operation:
    """Integrations run in order by an executor: `inline` (this process), `process` (reader
    processes feed this one) or `dask` (each partition is a task on a Dask cluster: the one at
    `scheduler`, or a local one; a failed task is tried `retries` more times)."""

    name: str
    integrations: list[Integration]
    executor: str = "process"  # one of pdip.integrator.executors.EXECUTORS
    source_file: Path | None = None
    scheduler: str | None = None
    retries: int = 2

    @classmethod
    def from_yaml(
        cls, path: str | Path, connections: Mapping[str, Mapping[str, Any]] | None = None, environ=None
    ) -> Operation:
        """An operation from a YAML file; `connections` are named connections (application.yml's
        `CONNECTIONS` section) that integrations may refer to by name."""
        return load_operation(cls, Path(path), connections or {}, environ)
