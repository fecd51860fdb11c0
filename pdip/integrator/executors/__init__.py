"""Executors decide where an integration's planned partitions are read (and, for some, written).

They schedule; they never write by themselves: every batch goes through the one batch loop,
`pdip.integrator.runs.writing.BatchWriter`, and every report through `runs.reporting.Progress`.

    inline    the calling process reads and writes (tests, debugging)
    process   reader processes, one per partition, each with a pipe to the writer (the default);
              a change stream into a database is applied by a process per partition
    dask      each partition a task on a Dask cluster

`EXECUTORS` is the one list of their names: the operation loader, the CLI and the integrator
read it. An executor is a class with the `Executor` methods, named here by "module:class".
"""

from __future__ import annotations

import abc
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.adapters.base import ReadRequest, Source, Target
    from pdip.integrator.adapters.registry import AdapterRegistry
    from pdip.integrator.models import Connection, Integration, Operation
    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun

__all__ = ["EXECUTORS", "Endpoints", "Executor", "executor_class", "executor_for", "lives_here"]

EXECUTORS: dict[str, str] = {
    "inline": "pdip.integrator.executors.inline:InlineExecutor",
    "process": "pdip.integrator.executors.process:ProcessExecutor",
    "dask": "pdip.integrator.executors.dask:DaskExecutor",
}


class Endpoints:
    """An integration's source and target as the caller opened them; each closed once, by
    whoever is done with it first (an executor whose workers open their own closes them early)."""

    def __init__(self, source: Source | None, target: Target):
        self.source = source
        self.target = target
        self._target_open = True

    def close_source(self) -> None:
        source, self.source = self.source, None
        if source is not None:
            source.close()

    def close_target(self) -> None:
        if self._target_open:
            self._target_open = False
            self.target.close()

    def close(self) -> None:
        try:
            self.close_source()
        finally:
            self.close_target()


class Executor(abc.ABC):
    """Runs the integrations of one operation; made once per run of the operation."""

    def __init__(self, operation: Operation, registry: AdapterRegistry):
        self.operation = operation
        self.registry = registry

    @staticmethod
    def unsuited(integration: Integration, target: Any, registry: AdapterRegistry) -> str | None:
        """Why this executor cannot run `integration` (`target`: its target, or the target's
        class), or None. Read by `pdip validate` and by `integrate` before anything runs."""
        return None

    def reads_in_a_child(self, integration: Integration, source: Source, request: ReadRequest) -> bool:
        """Whether the integration's source is read outside this process (for its description);
        `request`: what the integration asks of it as a whole (`planning.read_request`)."""
        return False

    @abc.abstractmethod
    def run(self, run: IntegrationRun, endpoints: Endpoints, plan: Plan) -> None:
        """Read and write the integration as planned; raise when it fails."""

    def close(self) -> None:
        """Release what the executor holds for the operation (a cluster's client)."""


def executor_class(name: str) -> type[Executor]:
    """The class of the executor called `name` (one of `EXECUTORS`)."""
    module, _, attribute = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def executor_for(operation: Operation, registry: AdapterRegistry) -> Executor:
    """The executor the operation names, made for this run."""
    return executor_class(operation.executor)(operation, registry)


def lives_here(registry: AdapterRegistry, endpoint: Connection | None, mode: str) -> bool:
    """Whether a source or target's data lives in the calling process (a memory store), so no
    other process can read or write it. A kind no adapter serves does not (it is refused as such)."""
    if endpoint is None or not registry.knows(endpoint.kind, mode):
        return False
    return registry.adapter(endpoint.kind, mode).capabilities.in_process_only
