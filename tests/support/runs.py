"""A test case that runs operations through a real `Integrator` of its own.

    class DeltaCase(IntegratorCase):
        prefix = "pdip-delta-"

        def test_copy(self):
            self.ok(Integration("copy", source=self.memory("in", [{"id": 1}]), target=...))

Each test has a temporary folder (`root`), a `Pdi` rooted there and its `integrator`; a run's
output (progress, logged failures) is kept out of the test output.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, ExecutionResult, Integration, Operation, OperationError
from pdip.integrator.base import Integrator


class IntegratorCase(unittest.TestCase):
    prefix = "pdip-run-"  # of the test's folder
    operation = "run"  # the name of the operations run
    executor = "process"

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix=self.prefix)
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)

    def memory(self, name: str, rows) -> Connection:
        """A memory store holding `rows`."""
        self.integrator.stores[name] = rows
        return Connection("memory", {"store": name})

    def integrate(self, *integrations: Integration, resume: bool = False) -> ExecutionResult:
        operation = Operation(self.operation, list(integrations), executor=self.executor)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return self.integrator.integrate(operation, resume=resume)

    def ok(self, *integrations: Integration, **options) -> ExecutionResult:
        result = self.integrate(*integrations, **options)
        self.assertTrue(result.ok, [item.error for item in result.integrations])
        return result

    def error(self, *integrations: Integration) -> str:
        """Why the run was refused, or why its first integration failed."""
        try:
            result = self.integrate(*integrations)
        except OperationError as error:
            return str(error)
        self.assertFalse(result.ok)
        return result.integrations[0].error
