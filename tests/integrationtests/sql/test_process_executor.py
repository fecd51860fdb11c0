"""The process executor: a reader process feeds the writer through a bounded queue."""

import contextlib
import io
import os
import signal
import tempfile
import threading
import time
import unittest

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters import Adapter, Source
from pdip.integrator.base import Integrator
from pdip.integrator.events import BatchWritten, Event


def sqlite_with_rows(count: int) -> str:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='pdip-process-')}/source.db"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE numbers (id integer primary key, label text)")
        connection.exec_driver_sql(
            "INSERT INTO numbers VALUES " + ", ".join(f"({i}, 'n{i}')" for i in range(1, count + 1))
        )
    engine.dispose()
    return url


class ProcessExecutorTest(unittest.TestCase):
    def setUp(self):
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-process-run-"))
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        self.pdi.cleanup()

    def operation(self, url: str, batch_size: int = 100) -> Operation:
        return Operation(
            "process",
            [
                Integration(
                    "numbers",
                    source=Connection("sql", {"url": url, "table": "numbers"}),
                    target=Connection("memory", {"store": "copy"}),
                    batch_size=batch_size,
                )
            ],
            executor="process",
        )

    def test_a_reader_process_delivers_every_batch_in_order_with_events(self):
        events = []
        self.integrator.subscribe(Event, events.append)
        result = self.integrator.integrate(self.operation(sqlite_with_rows(1000)))
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual([row["id"] for row in self.integrator.stores["copy"]], list(range(1, 1001)))
        written = [event for event in events if isinstance(event, BatchWritten)]
        self.assertEqual([event.total_rows for event in written], list(range(100, 1001, 100)))
        self.assertEqual(events[1].source, "sqlite:numbers (reader process)")
        self.assertEqual(type(events[-1]).__name__, "OperationFinished")

    def test_a_bad_setting_in_the_reader_reaches_the_result_in_its_own_words(self):
        operation = self.operation(sqlite_with_rows(5))
        operation.integrations[0].source = Connection("sql", {"url": sqlite_with_rows(5), "table": "no_such_table"})
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.integrator.integrate(operation)
        self.assertEqual(result.status, "failed")
        error = result.integrations[0].error
        self.assertIn("the reader failed", error)
        self.assertNotIn(
            "Traceback", error
        )  # an OperationError explains itself (an unexpected error keeps its traceback)
        self.assertIn("OperationError: table 'no_such_table' does not exist", error)

    def test_an_unexpected_error_in_the_reader_reaches_the_result_with_its_traceback(self):
        class BrokenSource(Source):
            def read(self, request):
                raise RuntimeError("the source broke")
                yield  # a generator, as sources are

        self.integrator.registry.register(Adapter(("broken",), BrokenSource, None))
        operation = self.operation(sqlite_with_rows(5))
        operation.integrations[0].source = Connection("broken")
        with contextlib.redirect_stdout(io.StringIO()):
            error = self.integrator.integrate(operation).integrations[0].error
        self.assertIn("the reader failed", error)
        self.assertIn("Traceback", error)
        self.assertIn("RuntimeError: the source broke", error)

    def test_a_killed_reader_fails_the_integration_instead_of_hanging(self):
        url = sqlite_with_rows(20_000)
        started = threading.Event()

        def slow_down(event):
            started.set()
            time.sleep(0.05)  # the writer is slow: the reader fills the queue and waits

        self.integrator.subscribe(BatchWritten, slow_down)

        def kill_the_reader():
            started.wait(timeout=30)
            for child in __import__("multiprocessing").active_children():
                if child.name == "pdip numbers: reader":
                    os.kill(child.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_the_reader)
        killer.start()
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.integrator.integrate(self.operation(url, batch_size=50))
        killer.join(timeout=30)
        self.assertEqual(result.status, "failed")
        self.assertIn("the reader was killed (signal 9, SIGKILL) before it finished", result.integrations[0].error)
        self.assertLess(result.integrations[0].rows_written, 20_000)

    def test_memory_sources_are_read_inline_even_under_the_process_executor(self):
        self.integrator.stores["small"] = [{"id": 1}]
        operation = Operation(
            "mem",
            [
                Integration(
                    "m", source=Connection("memory", {"store": "small"}), target=Connection("memory", {"store": "out"})
                )
            ],
            executor="process",
        )
        self.assertTrue(self.integrator.integrate(operation).ok)
        self.assertEqual(self.integrator.stores["out"], [{"id": 1}])


if __name__ == "__main__":
    unittest.main()
