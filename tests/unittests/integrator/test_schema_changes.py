"""`schema:` on an integration: checked by `pdip validate`, applied at a SQLite target, shown by
`pdip executions show`; and the pieces of `adapters/sql/evolution.py` on their own."""

import sqlite3
import unittest

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from pdip.integrator import Connection, Integration, OperationError
from pdip.integrator.adapters.sql.evolution import wider_type, without_rows, without_values
from pdip.integrator.batch import Batch
from tests.support.apps import application
from tests.unittests.test_cli import run

OPERATION = """\
name: load-items
executor: inline
integrations:
  - name: items
    schema: {schema}
    source: {{kind: csv, path: in.csv, types: {{id: int}}}}
    target: {{kind: sqlite, database: out.db, table: items}}
"""
FILES = {"in.csv": "id,note,tag\n1,a,x\n2,,y\n3,c,\n"}


class SchemaSettingTest(unittest.TestCase):
    def test_a_schema_not_in_the_list_is_refused_naming_the_allowed_values(self):
        with self.assertRaises(OperationError) as raised:
            Integration("items", target=Connection("memory", {"store": "a"}), sql="x", schema="grow")
        self.assertIn(
            "schema: expected one of evolve, freeze, discard_row, discard_value, got 'grow'", str(raised.exception)
        )

    def test_pdip_validate_names_the_file_and_key_of_a_bad_schema(self):
        with application({"op.yml": OPERATION.format(schema="evolvee"), **FILES}) as (root, _):
            code, out, err = run("validate", str(root / "op.yml"))
        self.assertEqual(code, 2, out)
        self.assertIn("op.yml: integrations[0]: integration 'items': schema: expected one of evolve, freeze", err)
        self.assertIn("got 'evolvee'", err)


class SchemaAtASqliteTargetTest(unittest.TestCase):
    def run_with(self, schema: str) -> tuple[str, list[tuple]]:
        with application({"op.yml": OPERATION.format(schema=schema), **FILES}) as (root, _):
            with sqlite3.connect(root / "out.db") as database:
                database.execute("CREATE TABLE items (id INTEGER)")
            code, out, err = run("run", str(root / "op.yml"), "--execution-id", "e1")
            self.assertEqual(code, 0, out + err)
            _, shown, _ = run("executions", "show", "e1", "--root", str(root))
            with sqlite3.connect(root / "out.db") as database:
                rows = database.execute("SELECT * FROM items ORDER BY id").fetchall()
        return shown, rows

    def test_discard_value_counts_the_values_dropped_per_column_and_shows_them(self):
        shown, rows = self.run_with("discard_value")
        self.assertEqual(rows, [(1,), (2,), (3,)])
        self.assertIn("items: schema: 2 values of column 'note' discarded (schema: discard_value)", shown)
        self.assertIn("items: schema: 2 values of column 'tag' discarded (schema: discard_value)", shown)

    def test_evolve_adds_the_columns_and_shows_each_change(self):
        shown, rows = self.run_with("evolve")
        self.assertEqual(rows, [(1, "a", "x"), (2, None, "y"), (3, "c", None)])
        self.assertIn("items: schema: added column 'note'", shown)
        self.assertIn("items: schema: added column 'tag'", shown)


class WiderTypeTest(unittest.TestCase):
    def test_integers_are_wider_by_their_bits_and_an_unsigned_one_by_one_more(self):
        self.assertIsInstance(wider_type(sa.Integer(), sa.BigInteger()), sa.BigInteger)
        self.assertIsNone(wider_type(sa.BigInteger(), sa.Integer()))
        self.assertIsNone(wider_type(sa.SmallInteger(), mysql.TINYINT()))
        self.assertIsNotNone(wider_type(mysql.MEDIUMINT(), sa.Integer()))
        self.assertIsNotNone(wider_type(sa.Integer(), mysql.INTEGER(unsigned=True)))
        self.assertIsNone(wider_type(sa.Integer(), sa.Boolean()))

    def test_text_is_wider_when_longer_or_unbounded(self):
        self.assertEqual(wider_type(sa.String(10), sa.String(40)).length, 40)
        self.assertIsInstance(wider_type(sa.String(10), sa.Text()), sa.Text)
        self.assertIsNone(wider_type(sa.String(40), sa.String(10)))
        self.assertIsNone(wider_type(sa.Text(), sa.String(10)))
        self.assertIsNone(wider_type(sa.Enum("a", "b"), sa.String(10)))

    def test_a_decimal_is_wider_with_more_whole_digits_or_more_places(self):
        wider = wider_type(sa.Numeric(10, 2), sa.Numeric(12, 4))
        self.assertEqual((wider.precision, wider.scale), (12, 4))
        wider = wider_type(sa.Numeric(10, 4), sa.Numeric(10, 0))
        self.assertEqual((wider.precision, wider.scale), (14, 4))
        self.assertIsNone(wider_type(sa.Numeric(10, 2), sa.Numeric(8, 2)))
        self.assertIsNone(wider_type(postgresql.NUMERIC(), sa.Numeric(40, 2)))
        self.assertIsInstance(wider_type(sa.Numeric(10, 2), postgresql.NUMERIC()), sa.Numeric)

    def test_types_of_different_kinds_are_not_compared(self):
        self.assertIsNone(wider_type(sa.Integer(), sa.Text()))
        self.assertIsNone(wider_type(sa.Double(), sa.Numeric(40, 2)))


class FittingTest(unittest.TestCase):
    def test_discard_row_keeps_rows_with_null_in_the_lacking_column_and_refuses_the_others(self):
        batch = Batch(["id", "note"], [(1, None), (2, "b")], position=7)
        fitted = without_rows(batch, ["note"])
        self.assertEqual((fitted.batch.columns, fitted.batch.rows), (["id"], [(1,)]))
        self.assertEqual(fitted.refused, [((2, "b"), "the target table lacks column(s) 'note' (schema: discard_row)")])
        self.assertEqual(fitted.restore(fitted.batch.rows[0]), (1, None))

    def test_a_row_the_target_rebuilt_comes_back_whole_with_none_where_values_were_dropped(self):
        batch = Batch(["id", "note", "at"], [(1, "a", "t")])
        fitted = without_values(batch, ["note"])
        self.assertEqual(fitted.discarded, {"note": 1})
        self.assertEqual(fitted.restore(fitted.batch.rows[0]), (1, "a", "t"))
        self.assertEqual(fitted.restore((1, "t")), (1, None, "t"))


if __name__ == "__main__":
    unittest.main()


class ProgressTest(unittest.TestCase):
    def test_schema_changes_and_discarded_values_add_up_on_the_result(self):
        from types import SimpleNamespace

        from pdip.integrator.results import IntegrationResult
        from pdip.integrator.runs.reporting import Progress, SchemaChanged

        result = IntegrationResult("items")
        run = SimpleNamespace(result=result)
        progress = Progress(run, SimpleNamespace(watermark=None, requests=[]))
        progress.handle(SchemaChanged("", ["added column 'note' TEXT"], {}))
        progress.handle(SchemaChanged("1/2", [], {"note": 2}))
        progress.handle(SchemaChanged("2/2", [], {"note": 3, "tag": 1}))
        self.assertEqual(result.schema_changes, ["added column 'note' TEXT"])
        self.assertEqual(result.values_discarded, {"note": 5, "tag": 1})


class LagTest(unittest.TestCase):
    def test_a_capture_s_lag_is_on_the_result_its_events_and_the_execution_record(self):
        import datetime as dt
        import json
        from types import SimpleNamespace

        from pdip.integrator.history import execution_details
        from pdip.integrator.results import IntegrationResult
        from pdip.integrator.runs.reporting import BatchDone, IntegrationRun, Progress

        events = []
        result = IntegrationResult("capture")
        run = IntegrationRun.__new__(IntegrationRun)
        run.result, run.emit, run.base = result, events.append, {"execution_id": "e", "operation": "o"}
        run.base["integration"] = "capture"
        run.save_positions = lambda positions, finished: None
        run.started = 0.0
        run.integration = SimpleNamespace(max_errors=0)
        progress = Progress(run, SimpleNamespace(watermark=None, requests=[]))
        progress.handle(BatchDone("", {"lsn": 10}, 5, 5, 0.1, 0, None, lag=3 * 2**20))
        progress.handle(BatchDone("", {"lsn": 20}, 5, 5, 0.1, 0, None, lag=512))
        progress.handle(BatchDone("", {"lsn": 30}, 5, 5, 0.1, 0, None))  # a batch of a source that cannot say
        self.assertEqual((result.lag, result.lag_max), (512, 3 * 2**20))
        self.assertEqual([event.lag for event in events], [3 * 2**20, 512, None])
        record = {
            "execution_id": "e",
            "operation": "o",
            "status": "finished",
            "started_at": dt.datetime(2026, 1, 1),
            "finished_at": dt.datetime(2026, 1, 1, 0, 0, 1),
            "summary": json.dumps({"capture": {"status": "finished", "lag": 512, "lag_max": 3 * 2**20}}),
        }
        lines = execution_details(record, {})
        self.assertIn("capture: behind the source's log: 512 bytes at the last batch, 3.0 MiB at most", lines)
