import contextlib
import datetime as dt
import io
import json
import subprocess
import sys
import tempfile
import textwrap
import unittest
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from pdip.integrator.events import RowsDeadLettered

ORDERS_CSV = "id;customer;amount;placed\n" + "".join(
    f"{i};customer {i};{i * 2.5:.2f};2026-03-{i:02d}T08:00:00+00:00\n" for i in range(1, 11)
)
TYPES = {"id": "int", "amount": "decimal", "placed": "datetime"}


class FileIntegrationTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-file-it-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.dead_lettered = []
        self.integrator.subscribe(RowsDeadLettered, self.dead_lettered.append)

    def run_quietly(self, operation, execution_id=None):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.integrator.integrate(operation, execution_id=execution_id)

    def write(self, name, text):
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def leftovers(self):
        return sorted(path.name for path in self.root.rglob(".*.pdip-tmp"))

    def test_csv_to_json_lines_to_parquet_to_csv_keeps_every_value(self):
        self.write("in/orders.csv", ORDERS_CSV)
        operation = Operation(
            "formats",
            [
                Integration(
                    "csv-jsonl",
                    source=Connection("csv", {"path": "in/orders.csv", "delimiter": ";", "types": TYPES}),
                    target=Connection("jsonl", {"path": "stage/orders.jsonl"}),
                    batch_size=4,
                ),
                Integration(
                    "jsonl-parquet",
                    source=Connection("jsonl", {"path": "stage/orders.jsonl", "types": TYPES}),
                    target=Connection("parquet", {"path": "stage/orders.parquet"}),
                    batch_size=3,
                ),
                Integration(
                    "parquet-csv",
                    source=Connection("parquet", {"path": "stage/orders.parquet"}),
                    target=Connection("csv", {"path": "out/orders.csv", "delimiter": ";"}),
                ),
            ],
        )
        result = self.run_quietly(operation)
        self.assertTrue(result.ok, result)
        self.assertEqual([item.rows_written for item in result.integrations], [10, 10, 10])
        first = json.loads((self.root / "stage/orders.jsonl").read_text().splitlines()[0])
        self.assertEqual(
            first, {"id": 1, "customer": "customer 1", "amount": "2.50", "placed": "2026-03-01T08:00:00+00:00"}
        )
        table = pyarrow.parquet.read_table(self.root / "stage/orders.parquet")
        self.assertEqual(str(table.schema.field("placed").type), "timestamp[us, tz=UTC]")
        self.assertEqual(table.column("amount").to_pylist()[-1], Decimal("25.00"))
        self.assertEqual((self.root / "out/orders.csv").read_text(), ORDERS_CSV)
        self.assertEqual(self.leftovers(), [])

    def test_a_folder_of_csv_files_lands_in_memory_and_the_checkpoint_names_the_last_file(self):
        for day in (2, 1, 3):
            self.write(f"landing/day{day}.csv", "id,day\n" + "".join(f"{day}{i},{day}\n" for i in range(5)))
        self.write("landing/readme.txt.bak", "ignored")
        operation = Operation(
            "landing",
            [
                Integration(
                    "days",
                    source=Connection("csv", {"path": "landing"}),
                    target=Connection("memory", {"store": "days"}),
                    batch_size=4,
                )
            ],
        )
        result = self.run_quietly(operation)
        self.assertEqual(result["days"].rows_read, 15)
        self.assertEqual([row["day"] for row in self.integrator.stores["days"]], ["1"] * 5 + ["2"] * 5 + ["3"] * 5)
        position = self.pdi.get(StateStore).checkpoint("landing", "days").positions[""]
        self.assertEqual(position, {"file": "day3.csv", "row": 5})

    def test_a_folder_read_with_parallelism_gives_each_reader_process_its_own_files(self):
        for day in range(1, 6):
            self.write(f"landing/day{day}.csv", "id,day\n" + "".join(f"{day}{i},{day}\n" for i in range(4)))
        operation = Operation(
            "split",
            [
                Integration(
                    "days",
                    source=Connection("csv", {"path": "landing", "types": {"id": "int", "day": "int"}}),
                    target=Connection("memory", {"store": "days"}),
                    parallelism=2,
                    batch_size=3,
                )
            ],
        )
        result = self.run_quietly(operation)
        self.assertTrue(result.ok, result["days"].error)
        self.assertEqual(
            sorted(row["id"] for row in self.integrator.stores["days"]),
            [d * 10 + i for d in range(1, 6) for i in range(4)],
        )
        positions = self.pdi.get(StateStore).checkpoint("split", "days").positions
        self.assertEqual(positions, {"1/2": {"file": "day3.csv", "row": 4}, "2/2": {"file": "day5.csv", "row": 4}})

    def test_memory_to_csv_and_excel_and_back(self):
        self.integrator.stores["people"] = [
            {"id": 1, "name": "Ada", "born": dt.date(1815, 12, 10), "active": True},
            {"id": 2, "name": None, "born": None, "active": False},
        ]
        operation = Operation(
            "people",
            [
                Integration(
                    "csv",
                    source=Connection("memory", {"store": "people"}),
                    target=Connection("csv", {"path": "people.csv"}),
                ),
                Integration(
                    "xlsx",
                    source=Connection("memory", {"store": "people"}),
                    target=Connection("excel", {"path": "people.xlsx"}),
                ),
                Integration(
                    "back",
                    source=Connection("excel", {"path": "people.xlsx", "types": {"born": "date"}}),
                    target=Connection("memory", {"store": "again"}),
                ),
            ],
        )
        self.assertTrue(self.run_quietly(operation).ok)
        self.assertEqual(
            (self.root / "people.csv").read_text(), "id,name,born,active\n1,Ada,1815-12-10,true\n2,,,false\n"
        )
        self.assertEqual(self.integrator.stores["again"], self.integrator.stores["people"])

    def test_malformed_csv_and_json_lines_are_dead_lettered_and_the_run_goes_on(self):
        self.write("in/orders.csv", "id,amount\n1,10\n2,ten\n3,30,extra\n4,40\n")
        self.write("in/events.jsonl", '{"id": 1}\n{"id": 2\n["not", "an", "object"]\n{"id": 4}\n')
        operation = Operation(
            "dirty",
            [
                Integration(
                    "orders",
                    source=Connection("csv", {"path": "in/orders.csv", "types": {"id": "int", "amount": "int"}}),
                    target=Connection("jsonl", {"path": "out/orders.jsonl"}),
                    max_errors=2,
                ),
                Integration(
                    "events",
                    source=Connection("jsonl", {"path": "in/events.jsonl"}),
                    target=Connection("csv", {"path": "out/events.csv"}),
                    max_errors=2,
                ),
            ],
        )
        result = self.run_quietly(operation, execution_id="dirty-1")
        self.assertTrue(result.ok, result)
        self.assertEqual(
            [(item.rows_read, item.rows_written, item.rows_dead_lettered) for item in result.integrations],
            [(4, 2, 2), (4, 2, 2)],
        )
        letters = self.pdi.get(StateStore).dead_letters("dirty-1")
        self.assertEqual(
            [(letter["integration"], letter["row"], letter["reason"]) for letter in letters[:2]],
            [
                ("orders", {"id": "2", "amount": "ten"}, "orders.csv:3: column 'amount': expected int, got 'ten'"),
                ("orders", {"line": "3,30,extra"}, "orders.csv:4: expected 2 fields, got 3"),
            ],
        )
        self.assertRegex(letters[2]["reason"], r"^events.jsonl:2: not valid JSON: ")
        self.assertEqual(letters[3]["reason"], "events.jsonl:3: expected a JSON object, got list")
        # each where it was read, not where its batch ended
        self.assertEqual(
            [letter["position"] for letter in letters[:2]], [{"file": "orders.csv", "line": n} for n in (3, 4)]
        )
        self.assertEqual(letters[2]["position"], {"file": "events.jsonl", "line": 2})
        self.assertEqual([event.rows for event in self.dead_lettered], [2, 2])
        self.assertEqual((self.root / "out/events.csv").read_text(), "id\n1\n4\n")

    def test_more_malformed_lines_than_max_errors_fail_the_run_and_leave_the_file_untouched(self):
        self.write("in/orders.csv", "id,amount\n1,10\n2\n3\n")
        self.write("out/orders.csv", "id,amount\nprevious,run\n")
        operation = Operation(
            "strict",
            [
                Integration(
                    "orders",
                    source=Connection("csv", {"path": "in/orders.csv"}),
                    target=Connection("csv", {"path": "out/orders.csv"}),
                    max_errors=1,
                )
            ],
        )
        result = self.run_quietly(operation, execution_id="strict-1")
        self.assertEqual(result.status, "failed")
        self.assertIn("2 rows were refused, more than max_errors=1", result["orders"].error)
        self.assertEqual(result["orders"].rows_written, 1)  # into the file staged, which is not put in place
        self.assertEqual(len(self.pdi.get(StateStore).dead_letters("strict-1")), 2)
        self.assertEqual((self.root / "out/orders.csv").read_text(), "id,amount\nprevious,run\n")

    def test_a_run_that_fails_half_way_leaves_the_previous_file_untouched(self):
        self.write("landing/a.csv", "id\n1\n2\n")
        self.write("landing/b.csv", "id,surprise\n3,x\n")
        (self.root / "out").mkdir()
        pyarrow.parquet.write_table(pyarrow.table({"id": ["previous"]}), self.root / "out/all.parquet")
        operation = Operation(
            "atomic",
            [
                Integration(
                    "all",
                    source=Connection("csv", {"path": "landing/*.csv"}),
                    target=Connection("parquet", {"path": "out/all.parquet"}),
                    batch_size=1,
                )
            ],
        )
        result = self.run_quietly(operation)
        self.assertEqual(result.status, "failed")
        self.assertIn("b.csv has columns a.csv lacks: surprise", result["all"].error)
        self.assertEqual(result["all"].rows_written, 2)
        self.assertEqual(
            pyarrow.parquet.read_table(self.root / "out/all.parquet").column("id").to_pylist(), ["previous"]
        )
        self.assertEqual(self.leftovers(), [])

    def test_an_incremental_csv_source_reads_only_new_rows_and_the_target_appends(self):
        self.write("feed.csv", "seq,value\n1,a\n2,b\n")
        operation = Operation(
            "feed",
            [
                Integration(
                    "feed",
                    source=Connection("csv", {"path": "feed.csv", "types": {"seq": "int"}}),
                    target=Connection("jsonl", {"path": "copy.jsonl", "append": True}),
                    mode="incremental",
                    cursor="seq",
                )
            ],
        )
        self.assertEqual(self.run_quietly(operation)["feed"].rows_read, 2)
        with open(self.root / "feed.csv", "a", encoding="utf-8") as stream:
            stream.write("3,c\n10,d\n")
        self.assertEqual(self.run_quietly(operation)["feed"].rows_written, 2)
        self.assertEqual(self.run_quietly(operation)["feed"].rows_read, 0)
        copied = [json.loads(line) for line in (self.root / "copy.jsonl").read_text().splitlines()]
        self.assertEqual([record["seq"] for record in copied], [1, 2, 3, 10])
        self.assertEqual(self.pdi.get(StateStore).checkpoint("feed", "feed").high_watermark, 10)

    def test_a_yaml_operation_runs_from_the_command_line(self):
        self.write("data/orders.csv", "id,amount\n1,10\n2,20\n3,oops\n")
        self.write(
            "copy.yml",
            textwrap.dedent(
                """\
                name: files
                connections:
                  landing: {kind: csv, path: data/orders.csv, types: {id: int, amount: int}}
                integrations:
                  - name: orders
                    source: {connection: landing}
                    target: {kind: parquet, path: out/orders.parquet}
                    max_errors: 1
                """
            ),
        )
        completed = subprocess.run(
            [sys.executable, "-m", "pdip", "run", "copy.yml", "--execution-id", "cli-1"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        self.assertIn("orders: finished, 3 read, 2 written, 1 dead-lettered", completed.stdout)
        self.assertIn("files finished in", completed.stdout)
        self.assertEqual(
            pyarrow.parquet.read_table(self.root / "out/orders.parquet").to_pylist(),
            [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}],
        )
        in_a_reader_process = subprocess.run(
            [sys.executable, "-m", "pdip", "run", "copy.yml", "--execution-id", "cli-2", "--executor", "process"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(in_a_reader_process.returncode, 0, in_a_reader_process.stdout + in_a_reader_process.stderr)
        self.assertIn("orders: finished, 3 read, 2 written, 1 dead-lettered", in_a_reader_process.stdout)


if __name__ == "__main__":
    unittest.main()
