import contextlib
import io
import tempfile
import unittest

from pdip import Pdi
from pdip.integrator import (
    AdapterNotFoundError,
    Batch,
    Connection,
    Integration,
    Integrator,
    Operation,
    OperationError,
    StateStore,
)
from pdip.integrator.adapters import Adapter, AdapterRegistry, Capabilities, Target, WriteResult
from pdip.integrator.datasets import Dataset
from pdip.integrator.events import (
    BatchWritten,
    Event,
    IntegrationFailed,
    IntegrationFinished,
    IntegrationStarted,
    OperationFinished,
    OperationStarted,
    RowsDeadLettered,
)


def memory(store):
    return Connection("memory", {"store": store})


class PickyTarget(Target):
    """Refuses rows whose amount is negative, as a database constraint would."""

    def write(self, batch):
        accepted, rejected = [], []
        for row in batch.rows:
            record = dict(zip(batch.columns, row, strict=True))
            (rejected if record["amount"] < 0 else accepted).append(row)
        self.context.stores.setdefault("picky", []).extend(dict(zip(batch.columns, r, strict=True)) for r in accepted)
        return WriteResult(len(accepted), [(row, "amount must not be negative") for row in rejected])


PICKY = Adapter(("picky",), None, PickyTarget, Capabilities(transactions=True))


class IntegratorTest(unittest.TestCase):
    def setUp(self):
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-integrator-"))
        self.integrator = self.pdi.get(Integrator)
        self.integrator.stores["orders"] = [{"id": i, "amount": i * 10} for i in range(1, 26)]
        self.events = []
        self.integrator.subscribe(Event, self.events.append)

    def tearDown(self):
        self.pdi.cleanup()

    def copy(self, **settings):
        return Operation("copy", [Integration("orders", source=memory("orders"), target=memory("copy"), **settings)])

    def test_a_full_copy_moves_every_row_and_reports_each_step(self):
        result = self.integrator.integrate(self.copy(batch_size=10), execution_id="run-1")
        self.assertTrue(result.ok)
        self.assertEqual(self.integrator.stores["copy"], self.integrator.stores["orders"])
        self.assertEqual((result["orders"].rows_read, result["orders"].rows_written), (25, 25))
        self.assertEqual(
            [type(event).__name__ for event in self.events],
            [
                "OperationStarted",
                "IntegrationStarted",
                "BatchWritten",
                "BatchWritten",
                "BatchWritten",
                "IntegrationFinished",
                "OperationFinished",
            ],
        )
        started, first_batch, last_batch = self.events[1], self.events[2], self.events[4]
        self.assertEqual(
            started,
            IntegrationStarted(
                "run-1",
                "copy",
                "orders",
                "memory:orders",
                "memory:copy",
                inputs=(Dataset("memory", "orders"),),
                outputs=(Dataset("memory", "copy"),),
            ),
        )
        self.assertEqual((first_batch.rows, last_batch.rows, last_batch.total_rows), (10, 5, 25))
        self.assertIsInstance(self.events[0], OperationStarted)
        self.assertEqual(self.events[-1].status, "finished")
        record = self.pdi.get(StateStore).executions()[0]
        self.assertEqual((record["execution_id"], record["status"]), ("run-1", "finished"))

    def test_incremental_runs_read_only_rows_past_the_high_watermark(self):
        operation = self.copy(mode="incremental", cursor="id", batch_size=10)
        self.assertEqual(self.integrator.integrate(operation)["orders"].rows_read, 25)
        self.integrator.stores["orders"].extend({"id": i, "amount": 1} for i in (26, 27))
        second = self.integrator.integrate(operation)
        self.assertEqual(second["orders"].rows_read, 2)
        self.assertEqual([row["id"] for row in self.integrator.stores["copy"][-2:]], [26, 27])
        self.assertEqual(self.integrator.integrate(operation)["orders"].rows_read, 0)

    def test_refused_rows_are_dead_lettered_with_their_reason_and_the_run_goes_on(self):
        self.pdi.get(AdapterRegistry).register(PICKY)
        self.integrator.stores["orders"][3]["amount"] = -5
        operation = Operation(
            "picky", [Integration("orders", source=memory("orders"), target=Connection("picky"), max_errors=1)]
        )
        result = self.integrator.integrate(operation, execution_id="run-dead")
        self.assertTrue(result.ok)
        self.assertEqual((result["orders"].rows_written, result["orders"].rows_dead_lettered), (24, 1))
        letters = self.pdi.get(StateStore).dead_letters("run-dead")
        self.assertEqual(
            (letters[0]["row"], letters[0]["reason"]), ({"id": 4, "amount": -5}, "amount must not be negative")
        )
        self.assertEqual([e.rows for e in self.events if isinstance(e, RowsDeadLettered)], [1])

    def test_more_refusals_than_max_errors_fail_the_integration_and_skip_the_rest(self):
        self.pdi.get(AdapterRegistry).register(PICKY)
        for row in self.integrator.stores["orders"][:3]:
            row["amount"] = -1
        operation = Operation(
            "picky",
            [
                Integration("orders", source=memory("orders"), target=Connection("picky"), max_errors=2),
                Integration("after", source=memory("orders"), target=memory("never")),
            ],
        )
        with contextlib.redirect_stdout(io.StringIO()) as output:
            result = self.integrator.integrate(operation)
        self.assertEqual(result.status, "failed")
        self.assertIn("3 rows were refused, more than max_errors=2", result["orders"].error)
        self.assertEqual(result["after"].status, "skipped")
        self.assertIn("integration orders failed", output.getvalue())
        self.assertIsInstance(self.events[-2], IntegrationFailed)
        self.assertNotIn("never", self.integrator.stores)

    def test_an_unknown_kind_or_store_fails_the_integration_with_a_clear_error(self):
        bad_kind = Operation("bad", [Integration("x", source=Connection("nosuch"), target=memory("t"))])
        missing_store = Operation("bad", [Integration("x", source=memory("absent"), target=memory("t"))])
        with contextlib.redirect_stdout(io.StringIO()):
            first = self.integrator.integrate(bad_kind)
            second = self.integrator.integrate(missing_store)
        self.assertRegex(first["x"].error, r"no adapter for connection kind 'nosuch' \(known: .*memory.*sqlite")
        self.assertIn("memory store 'absent' does not exist", second["x"].error)
        with self.assertRaises(AdapterNotFoundError):
            self.pdi.get(AdapterRegistry).source(Connection("picky"), None)

    def test_a_statement_only_integration_needs_a_target_that_runs_statements(self):
        operation = Operation("ddl", [Integration("ddl", target=memory("t"), sql="CREATE TABLE x (id int)")])
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.integrator.integrate(operation)
        self.assertIn("a memory target cannot run statements", result["ddl"].error)

    def test_a_failing_subscriber_is_logged_and_the_run_goes_on(self):
        def broken(event):
            raise RuntimeError("subscriber bug")

        self.integrator.subscribe(BatchWritten, broken)
        with contextlib.redirect_stdout(io.StringIO()) as output:
            result = self.integrator.integrate(self.copy())
        self.assertTrue(result.ok)
        self.assertIn("event subscriber", output.getvalue())
        self.assertIn("RuntimeError: subscriber bug", output.getvalue())
        self.assertIsInstance(self.events[-1], OperationFinished)
        self.assertIsInstance(self.events[-2], IntegrationFinished)

    def test_an_empty_source_still_prepares_the_target(self):
        self.integrator.stores["empty"] = []
        operation = Operation("empty", [Integration("e", source=memory("empty"), target=memory("out"))])
        self.assertEqual(self.integrator.integrate(operation)["e"].rows_read, 0)
        self.assertEqual(self.integrator.stores["out"], [])


class ModelTest(unittest.TestCase):
    def test_an_integration_lists_every_problem(self):
        with self.assertRaises(OperationError) as raised:
            Integration("bad", target=memory("t"), mode="sometimes", batch_size=0, parallelism=0, max_errors=-1)
        self.assertEqual(len(raised.exception.problems), 5)
        self.assertIn("mode: expected one of full, incremental, changes, got 'sometimes'", str(raised.exception))
        with self.assertRaisesRegex(OperationError, "cursor: an incremental integration needs a cursor column"):
            Integration("inc", source=memory("s"), target=memory("t"), mode="incremental")

    def test_a_connection_hides_its_secrets(self):
        shown = repr(Connection("postgresql", {"host": "db", "password": "hunter2"}, name="dw"))
        self.assertEqual(shown, "Connection(dw: postgresql, {'host': 'db', 'password': '***'})")


class BatchTest(unittest.TestCase):
    def test_rows_arrow_pandas_and_dicts_convert_both_ways(self):
        batch = Batch.from_dicts([{"id": 1, "name": "a"}, {"id": 2, "name": None}], position=2)
        arrow = batch.to_arrow()
        self.assertEqual(arrow.num_rows, 2)
        again = Batch.from_arrow(arrow)
        self.assertEqual(again.rows, [(1, "a"), (2, None)])
        frame = batch.to_pandas()
        self.assertEqual(Batch.from_pandas(frame).to_dicts(), [{"id": 1, "name": "a"}, {"id": 2, "name": None}])
        import pyarrow

        table = pyarrow.table({"x": [1, 2, 3]})
        self.assertEqual(len(Batch.from_arrow(table)), 3)
        self.assertEqual(len(Batch.from_arrow(table.slice(0, 0))), 0)
        self.assertEqual(repr(batch), "Batch(2 rows x 2 columns: id, name)")
        self.assertEqual(list(batch), [(1, "a"), (2, None)])
        self.assertEqual(Batch(["a"], rows=[]).to_arrow().num_rows, 0)
        with self.assertRaisesRegex(ValueError, "a Batch holds exactly one of: rows, an Arrow record batch"):
            Batch(["a"])


if __name__ == "__main__":
    unittest.main()
