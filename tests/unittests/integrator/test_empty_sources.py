"""A source file with no header line and no rows: the run finishes, creates nothing and says so
(`IntegrationResult.warnings`, `IntegrationFinished.warnings`, the `pdip run` output)."""

import sqlite3
import unittest

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from pdip.integrator.events import IntegrationFinished
from tests.support.apps import application
from tests.unittests.test_cli import run

OPERATION = """\
name: landing
executor: inline
integrations:
  - name: orders
    create_target: true
    source: {kind: csv, path: orders.csv}
    target: {kind: sqlite, database: out.db, table: orders}
"""


class EmptySourceTest(unittest.TestCase):
    def setUp(self):
        context = application({"op.yml": OPERATION, "orders.csv": ""})
        self.root, _ = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)

    def tables(self) -> list[str]:
        with sqlite3.connect(self.root / "out.db") as database:
            found = database.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            return [name for (name,) in found if not name.startswith("pdip_")]

    def integrate(self, *integrations: Integration):
        pdi = Pdi(root_directory=self.root)
        self.addCleanup(pdi.cleanup)
        integrator = pdi.get(Integrator)
        finished: list[IntegrationFinished] = []
        integrator.subscribe(IntegrationFinished, finished.append)
        result = integrator.integrate(Operation("landing", list(integrations), executor="inline"))
        self.assertTrue(result.ok, [item.error for item in result.integrations])
        return result, finished

    def into_sqlite(self, name: str, source: Connection) -> Integration:
        return Integration(
            name, source=source, target=Connection("sqlite", {"database": "out.db", "table": name}), create_target=True
        )

    def test_pdip_run_finishes_and_prints_the_warning_naming_the_file_and_the_table(self):
        code, out, err = run("run", str(self.root / "op.yml"), "--no-progress")
        self.assertEqual(code, 0, out + err)
        self.assertIn("orders: finished, 0 read, 0 written", out)
        self.assertIn(
            "orders: warning: orders.csv is empty (no header line, no rows), so no columns: nothing read and "
            "table 'orders' was not created (it needs columns: name them in the source's `columns`)",
            out,
        )
        self.assertNotIn("orders", self.tables())

    def test_json_lines_and_a_folder_of_empty_files_say_so_and_a_header_alone_makes_the_table(self):
        (self.root / "events.jsonl").write_text("")
        (self.root / "landing").mkdir()
        (self.root / "landing" / "a.csv").write_text("")
        (self.root / "landing" / "b.csv").write_text("")
        (self.root / "header.csv").write_text("id,name\n")
        result, finished = self.integrate(
            self.into_sqlite("events", Connection("jsonl", {"path": "events.jsonl"})),
            self.into_sqlite("landed", Connection("csv", {"path": "landing"})),
            self.into_sqlite("header", Connection("csv", {"path": "header.csv"})),
            Integration(
                "kept", source=Connection("csv", {"path": "orders.csv"}), target=Connection("memory", {"store": "kept"})
            ),
        )
        self.assertEqual(
            [warning.split(",")[0] for item in result.integrations for warning in item.warnings],
            [
                "events.jsonl is empty (no header line",
                "landing is empty (no header line",
                "orders.csv is empty (no header line",
            ],
        )
        self.assertEqual(
            result["kept"].warnings, ["orders.csv is empty (no header line, no rows), so no columns: nothing read"]
        )
        self.assertEqual([event.warnings for event in finished][2:], [(), tuple(result["kept"].warnings)])
        self.assertEqual(self.tables(), ["header"])
        with sqlite3.connect(self.root / "out.db") as database:
            self.assertEqual([row[1] for row in database.execute("PRAGMA table_info(header)")], ["id", "name"])

    def test_an_empty_parquet_file_is_no_parquet_file_and_fails_naming_it(self):
        (self.root / "none.parquet").write_bytes(b"")
        pdi = Pdi(root_directory=self.root)
        self.addCleanup(pdi.cleanup)
        copy = self.into_sqlite("none", Connection("parquet", {"path": "none.parquet"}))
        result = pdi.get(Integrator).integrate(Operation("landing", [copy], executor="inline"))
        self.assertEqual(
            result["none"].error,
            "OperationError: none.parquet is empty (0 bytes): a Parquet file holds at least its schema; nothing read",
        )
