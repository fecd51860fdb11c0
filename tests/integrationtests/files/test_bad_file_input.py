"""Bad input in files against real targets: `pdip run` with reader processes, and CSV records
handed undecoded to PostgreSQL."""

import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TABLE = "pdip_bad_file_input_rows"


class BadFileInputTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-bad-files-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)

    def test_pdip_run_with_reader_processes_dead_letters_each_bad_line_at_its_place(self):
        lines = [b"id,name\n"] + [b"%d,name %d\n" % (number, number) for number in range(1, 1001)]
        lines[17] = b"17,caf\xe9\n"  # latin-1 in a UTF-8 file
        lines[40] = b"40,\n"  # NULL where the table wants a name
        (self.root / "people.csv").write_bytes(b"".join(lines))
        with sqlite3.connect(self.root / "out.db") as connection:
            connection.execute("CREATE TABLE people (id INTEGER, name TEXT NOT NULL)")
        (self.root / "copy.yml").write_text(
            textwrap.dedent(
                """
                name: people
                integrations:
                  - name: people
                    source: {kind: csv, path: people.csv, types: {id: int}}
                    target: {kind: sqlite, database: out.db, table: people}
                    max_errors: 5
                """
            ),
            encoding="utf-8",
        )
        completed = subprocess.run(
            [sys.executable, "-m", "pdip", "run", "copy.yml", "--execution-id", "bad-cli", "--no-progress"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        self.assertIn("people: finished, 1000 read, 998 written, 2 dead-lettered", completed.stdout)
        with sqlite3.connect(self.root / "out.db") as connection:
            self.assertEqual(connection.execute("SELECT count(*) FROM people").fetchone(), (998,))
        with Pdi(root_directory=self.root) as pdi:
            letters = pdi.get(StateStore).dead_letters("bad-cli")
        self.assertEqual(
            [(letter["reason"], letter["row"]) for letter in letters],
            [
                ("people.csv:18: invalid utf-8 byte 0xe9 at column 7", {"line": "17,caf\\xe9"}),
                (letters[1]["reason"], {"id": 40, "name": None}),
            ],
        )
        self.assertIn("NOT NULL", letters[1]["reason"])
        self.assertEqual(letters[1]["position"], {"file": "people.csv", "line": 41})

    def test_csv_records_handed_to_postgresql_undecoded_refuse_only_their_bad_lines(self):
        engine = sa.create_engine(POSTGRES)
        self.addCleanup(engine.dispose)
        self.addCleanup(drop, engine)
        drop(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {TABLE} (id integer, name text NOT NULL)")
        lines = [b"id,name\n"] + [b"%d,name %d\n" % (number, number) for number in range(1, 1001)]
        lines[300] = b'300,"two\nlines \xff"\n'
        lines[600] = b"600,\n"
        (self.root / "rows.csv").write_bytes(b"".join(lines))
        target = Connection("postgresql", {"url": POSTGRES, "table": TABLE})
        integration = Integration("rows", source=Connection("csv", {"path": "rows.csv"}), target=target, max_errors=5)
        with Pdi(root_directory=self.root) as pdi:
            result = pdi.get(Integrator).integrate(Operation("pg", [integration], executor="inline"), "bad-pg")
            letters = pdi.get(StateStore).dead_letters("bad-pg")
        self.assertTrue(result.ok, result)
        self.assertEqual(result["rows"].rows_written, 998)
        with engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar(), 998)
        self.assertEqual(letters[0]["reason"], "rows.csv:302: invalid utf-8 byte 0xff at column 7")
        self.assertEqual(letters[0]["row"], {"id": "300", "name": "two\nlines \\xff"})
        self.assertIn("null value", letters[1]["reason"])
        self.assertEqual(letters[1]["position"], {"file": "rows.csv", "line": 602})


def drop(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    unittest.main()
