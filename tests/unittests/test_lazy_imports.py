"""What a process pays for at start: the integrator does not import the ORM, the outbox or the
tracking of the data layer, and `pdip.data` still gives every name it promises; a `pdip run`
of small local files imports nothing its stores do not need."""

import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import pdip.data

HEAVY = ("sqlalchemy.orm", "pdip.data.outbox", "pdip.data.session", "pdip.tracking", "pdip.policy.engine")
# what a run between SQLite and small CSV files has no use for: a reader process (read in the
# calling process, `Source.light_to_read`), Arrow, DataFrames, the web layer, other databases'
# dialects
NOT_FOR_LOCAL_FILES = (
    "multiprocessing",
    "ctypes",
    "pyarrow",
    "numpy",
    "pandas",
    "flask",
    "duckdb",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.mysql",
    "psycopg",
)


class LazyImportsTest(unittest.TestCase):
    def test_the_integrator_and_the_cli_import_none_of_the_data_layer_they_do_not_use(self):
        code = (
            "import sys, pdip.cli, pdip.integrator, pdip.integrator.adapters.sql.rows; "
            f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))"
        )
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(loaded.stdout.strip(), "")

    def test_a_run_of_a_sqlite_table_and_a_small_csv_file_imports_only_what_they_need(self):
        folder = Path(tempfile.mkdtemp(prefix="pdip-lazy-run-"))
        with sqlite3.connect(folder / "source.db") as connection:
            connection.execute("CREATE TABLE t (id integer primary key, name text)")
            connection.execute("INSERT INTO t VALUES (1, 'one')")
        connection.close()
        (folder / "one.csv").write_text("id,name\n1,one\n")
        (folder / "one.yml").write_text(
            "name: one\nintegrations:\n"
            "  - {name: table, source: {kind: sqlite, database: source.db, table: t},"
            " target: {kind: sqlite, database: target.db, table: t}, create_target: true}\n"
            "  - {name: file, source: {kind: csv, path: one.csv},"
            " target: {kind: sqlite, database: target.db, table: f}, create_target: true}\n"
        )
        code = (
            f"import sys, pdip.cli; code = pdip.cli.main(['run', {str(folder / 'one.yml')!r}, '--no-progress']); "
            f"print(code, [name for name in {NOT_FOR_LOCAL_FILES!r} if name in sys.modules])"
        )
        # measured as a user runs it: not under coverage, whose multiprocessing support imports it
        plain = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=plain)
        self.assertEqual(ran.stdout.strip().splitlines()[-1], "0 []", ran.stdout + ran.stderr)

    def test_every_promised_name_of_the_data_layer_is_there_and_an_unknown_one_is_named(self):
        from pdip.data import Repository, UnitOfWork
        from pdip.data.repository import Repository as Home

        self.assertIs(Repository, Home)
        self.assertEqual(UnitOfWork.__module__, "pdip.data.unit_of_work")
        self.assertTrue(set(pdip.data.__all__) <= set(dir(pdip.data)))
        with self.assertRaises(AttributeError) as raised:
            pdip.data.Repositry  # noqa: B018 - the lookup is the test
        self.assertIn("module 'pdip.data' has no attribute 'Repositry'", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
