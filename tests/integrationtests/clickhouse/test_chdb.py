"""ClickHouse's engine through clickhouse-connect (`kind: chdb`, chDB in this process): what the
ClickHouse adapter adds to the contract: incremental and keyed reads, a query, replace, schema
changes, refused merges, and errors naming the connection and setting."""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import unittest
import uuid
from decimal import Decimal
from unittest import mock

import pyarrow

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters.base import Disposition
from pdip.integrator.adapters.clickhouse import ClickHouseTarget, clickhouse_type
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.base import Integrator
from pdip.integrator.results import RunContext
from tests.support.chdb import FOLDER, chdb_client


class ChdbCase(unittest.TestCase):
    client = None

    def setUp(self) -> None:
        if ChdbCase.client is None:
            ChdbCase.client = chdb_client()
        folder = tempfile.TemporaryDirectory(prefix="pdip-chdb-run-")
        self.addCleanup(folder.cleanup)
        self.pdi = Pdi(root_directory=folder.name)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.tables: list[str] = []
        self.addCleanup(lambda: [self.client.command(f"DROP TABLE IF EXISTS `{name}`") for name in self.tables])

    def name(self) -> str:
        made = f"t_{uuid.uuid4().hex[:8]}"
        self.tables.append(made)
        return made

    def chdb(self, **settings) -> Connection:
        return Connection("chdb", {"database": FOLDER, **settings}, name="lake")

    def memory(self, store: str, rows=None) -> Connection:
        if rows is not None:
            self.integrator.stores[store] = rows
        return Connection("memory", {"store": store})

    def integrate(self, *integrations: Integration, resume: bool = False):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return self.integrator.integrate(Operation("ch", list(integrations), executor="inline"), resume=resume)

    def ok(self, *integrations: Integration, **options):
        result = self.integrate(*integrations, **options)
        self.assertTrue(result.ok, [item.error for item in result.integrations])
        return result

    def rows(self, table: str) -> list[tuple]:
        return self.client.query(f"SELECT * FROM `{table}` ORDER BY id").result_rows

    def filled(self, rows: list[dict]) -> str:
        table = self.name()
        self.ok(
            Integration("fill", source=self.memory("fill", rows), target=self.chdb(table=table), create_target=True)
        )
        return table


class ReadingTest(ChdbCase):
    def test_an_incremental_keyed_read_takes_rows_above_the_watermark_in_key_order(self):
        table = self.filled([{"id": number, "label": f"row {number}"} for number in (5, 1, 4, 2, 3)])
        integration = Integration(
            "inc", source=self.chdb(table=table), target=self.memory("inc"), mode="incremental", cursor="id", key=["id"]
        )
        self.ok(integration)
        self.assertEqual([row["id"] for row in self.integrator.stores.records("inc")], [1, 2, 3, 4, 5])
        self.integrator.stores["inc"] = []
        self.client.command(f"INSERT INTO `{table}` VALUES (6, 'row 6')")
        self.ok(integration)
        self.assertEqual(self.integrator.stores.records("inc"), [{"id": 6, "label": "row 6"}])

    def test_a_keyed_read_resumes_after_its_last_key_and_a_query_is_read_as_written(self):
        table = self.filled([{"id": number, "label": f"row {number}"} for number in range(1, 8)])
        source = self.pdi.get(AdapterRegistry).source(self.chdb(table=table), RunContext(None, "x"))
        from pdip.integrator.adapters.base import ReadRequest

        batches = list(source.read(ReadRequest(3, key=["id"], resume={"key": [4], "rows": 4})))
        source.close()
        self.assertEqual([row[0] for batch in batches for row in batch.rows], [5, 6, 7])
        self.assertEqual(batches[-1].position, {"key": [7], "rows": 7})
        query = self.chdb(query=f"SELECT id * 10 AS tens FROM `{table}` WHERE id < 3 ORDER BY id;")
        self.ok(Integration("q", source=query, target=self.memory("q"), create_target=True))
        self.assertEqual(self.integrator.stores.records("q"), [{"tens": 10}, {"tens": 20}])

    def test_a_missing_table_or_a_failing_query_names_the_connection_and_setting(self):
        result = self.integrate(Integration("a", source=self.chdb(table="nowhere"), target=self.memory("a")))
        self.assertIn("chdb connection 'lake': table:", result.integrations[0].error)
        result = self.integrate(Integration("b", source=self.chdb(query="SELECT nope"), target=self.memory("b")))
        self.assertIn("chdb connection 'lake': query:", result.integrations[0].error)
        result = self.integrate(Integration("c", source=self.chdb(), target=self.memory("c")))
        self.assertIn("needs table (or query) to read", result.integrations[0].error)


class WritingTest(ChdbCase):
    def test_replace_swaps_the_loaded_table_in_and_an_empty_source_empties_it(self):
        table = self.filled([{"id": 1, "label": "old"}])
        self.ok(
            Integration(
                "r",
                source=self.memory("new", [{"id": 2, "label": "new"}]),
                target=self.chdb(table=table),
                write="replace",
            )
        )
        self.assertEqual(self.rows(table), [(2, "new")])
        self.ok(Integration("r", source=self.memory("none", []), target=self.chdb(table=table), write="replace"))
        self.assertEqual(self.rows(table), [])
        self.assertFalse(self.client.command(f"EXISTS TABLE `{table[:40]}_pdip_replace`"))

    def test_merge_is_refused_before_any_data_moves_and_by_a_target_made_in_code(self):
        table = self.filled([{"id": 1}])
        with self.assertRaises(OperationError) as raised:
            self.integrate(
                Integration(
                    "m", source=self.memory("m", [{"id": 1}]), target=self.chdb(table=table), write="merge", key=["id"]
                )
            )
        self.assertIn("chdb targets cannot upsert rows by key", str(raised.exception))
        target = ClickHouseTarget(self.chdb(table=table), None)
        target.disposition = Disposition("merge", ("id",), None, "m")
        with self.assertRaises(OperationError) as raised:
            target.prepare(["id"], create=True, truncate=True, types=pyarrow.schema([("id", pyarrow.int64())]))
        target.close()
        self.assertIn("a ClickHouse table has no unique key to upsert by", str(raised.exception))

    def test_a_new_source_column_is_added_refused_or_dropped_as_schema_says(self):
        created = self.filled([{"id": 1}])
        self.ok(Integration("e", source=self.memory("e", [{"id": 2, "note": "n"}]), target=self.chdb(table=created)))
        self.assertEqual(self.rows(created), [(1, None), (2, "n")])
        foreign = self.name()
        self.client.command(f"CREATE TABLE `{foreign}` (id Int64) ENGINE = MergeTree ORDER BY id")
        wider = self.memory("w", [{"id": 3, "note": "x"}, {"id": 4, "note": None}])
        result = self.integrate(Integration("f", source=wider, target=self.chdb(table=foreign)))
        self.assertIn("schema: freeze (the default for a table pdip did not create)", result.integrations[0].error)
        self.ok(Integration("d", source=wider, target=self.chdb(table=foreign), schema="discard_value"))
        self.ok(Integration("d", source=wider, target=self.chdb(table=foreign), schema="discard_row", max_errors=5))
        self.assertEqual(self.rows(foreign), [(3,), (4,), (4,)])
        result = self.integrate(Integration("t", source=wider, target=self.chdb(table=foreign), truncate_target=True))
        self.assertIn("schema: freeze", result.integrations[0].error)
        self.assertEqual(len(self.rows(foreign)), 3)  # refused before it was emptied

    def test_a_missing_table_statements_and_closing_an_unused_target(self):
        result = self.integrate(
            Integration("n", source=self.memory("n", [{"id": 1}]), target=self.chdb(table="absent"))
        )
        self.assertIn(
            "chdb connection 'lake': table: 'absent' does not exist; set create_target: true",
            result.integrations[0].error,
        )
        result = self.integrate(Integration("n", source=self.memory("n", [{"id": 1}]), target=self.chdb()))
        self.assertIn("a target needs table", result.integrations[0].error)
        table = self.name()
        target = ClickHouseTarget(self.chdb(table=table), None)
        target.run(f"CREATE TABLE `{table}` (id Int64) ENGINE = Memory")
        self.assertEqual(target.describe(), f"chdb:{table}")
        target.close()
        target.close()

    def test_without_the_package_the_error_says_what_to_do(self):
        target = ClickHouseTarget(self.chdb(table="t"), None)
        with mock.patch.dict(sys.modules, {"clickhouse_connect": None}), self.assertRaises(OperationError) as raised:
            target.prepare(["id"], create=True, truncate=False, types=pyarrow.schema([("id", pyarrow.int64())]))
        self.assertIn("pip install 'pdip[clickhouse]'", str(raised.exception))


class TypesTest(unittest.TestCase):
    def test_each_arrow_type_is_named_in_clickhouse_s_words(self):
        kinds = [
            (pyarrow.dictionary(pyarrow.int8(), pyarrow.string()), "String"),
            (pyarrow.uuid(), "UUID"),
            (pyarrow.uint32(), "UInt32"),
            (pyarrow.float32(), "Float32"),
            (pyarrow.timestamp("us"), "DateTime64(6)"),
            (pyarrow.duration("us"), "Int64"),
            (pyarrow.time64("us"), "String"),
        ]
        self.assertEqual([clickhouse_type(kind) for kind, _ in kinds], [name for _, name in kinds])


if __name__ == "__main__":
    unittest.main()


class RefusedTest(ChdbCase):
    def test_a_decimal_with_more_places_than_its_column_keeps_is_dead_lettered_not_cut(self):
        table = self.name()
        self.client.command(
            f"CREATE TABLE `{table}` (id Int64, amount Nullable(Decimal(8, 2)), text Nullable(Decimal(8, 2)), "
            "whole Decimal32(2)) ENGINE = MergeTree ORDER BY id"
        )
        rows = [
            {"id": 1, "amount": 1.005, "text": "1.10", "whole": 1},
            {"id": 2, "amount": 0.1, "text": "2.5", "whole": 2},
            {"id": 3, "amount": 3.0, "text": "3.125", "whole": 3},
            {"id": 4, "amount": None, "text": None, "whole": 4},
        ]
        copy = Integration("copy", source=self.memory("prices", rows), target=self.chdb(table=table), max_errors=5)
        result = self.ok(copy)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        reasons = {letter["row"]["id"]: letter["reason"] for letter in letters}
        self.assertEqual(sorted(reasons), [1, 3])
        self.assertIn("column 'amount' is Nullable(Decimal(8, 2)): 1.005 has more than 2 decimal places", reasons[1])
        self.assertIn("column 'text' is Nullable(Decimal(8, 2)): 3.125 has more than 2 decimal places", reasons[3])
        self.assertEqual(
            self.rows(table), [(2, Decimal("0.10"), Decimal("2.50"), Decimal("2.00")), (4, None, None, Decimal("4.00"))]
        )

    def test_a_value_its_declared_type_cannot_hold_and_rows_all_discarded_write_nothing(self):
        from pdip.integrator.batch import Batch

        table = self.filled([{"id": 1}])
        target = ClickHouseTarget(self.chdb(table=table), None)
        target.schema_changes = "discard_row"
        target.prepare(["id"], create=False, truncate=False)
        declared = pyarrow.schema([("id", pyarrow.int64())])
        result = target.write(Batch(["id"], [("x",), (7,)], types=declared))
        self.assertEqual(result.written, 1)
        self.assertEqual(result.rejected[0][0], ("x",))
        self.assertIn("does not fit its column", result.rejected[0][1])
        result = target.write(Batch(["id", "note"], [(8, "n")]))
        self.assertEqual((result.written, len(result.rejected)), (0, 1))
        target.close()
        self.assertEqual(self.rows(table), [(1,), (7,)])
