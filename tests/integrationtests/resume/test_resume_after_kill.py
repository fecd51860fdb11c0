"""`pdip run` killed with SIGKILL part-way, then `pdip run --resume`: no row lost, none duplicated."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from tests.support.servers import mysql_url, postgres_url

ROOT = Path(__file__).resolve().parents[3]
ROWS = 150_000


class ResumeAfterKillTest(unittest.TestCase):
    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-resume-"))

    def write_operation(self, source: str, target: str, executor: str, write: str = "append") -> Path:
        path = self.folder / "op.yml"
        path.write_text(
            textwrap.dedent(f"""\
                name: resumable
                executor: {executor}
                integrations:
                  - name: copy
                    source: {source}
                    target: {target}
                    key: [id]
                    batch_size: 2000
                    write: {write}
                """),
            encoding="utf-8",
        )
        return path

    def pdip(self, *arguments: str, **options) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pdip", "run", *arguments, "--no-progress"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the kill reaches the reader process too
            **options,
        )

    def kill_part_way(self, operation: Path, count) -> int:
        """Start a run, SIGKILL it (writer and reader) once some batches are in; rows written by then."""
        process = self.pdip(str(operation), "--execution-id", "nightly-1")
        deadline = time.monotonic() + 60
        written = 0
        while time.monotonic() < deadline and process.poll() is None:
            written = count()
            if written >= 10_000:
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        process.communicate(timeout=30)
        self.assertEqual(process.returncode, -signal.SIGKILL, "the run ended before it could be killed")
        self.assertLess(written, ROWS)
        return written

    def resume(self, operation: Path) -> str:
        process = self.pdip(str(operation), "--resume")
        output, _ = process.communicate(timeout=120)
        self.assertEqual(process.returncode, 0, output)
        self.assertIn("execution nightly-1", output)
        return output

    def test_postgresql_to_postgresql_resumes_after_the_last_committed_batch(self):
        url = postgres_url()
        prefix = f"resume_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_source (id integer primary key, name text)")
            connection.exec_driver_sql(
                f"INSERT INTO {prefix}_source SELECT i, 'name ' || i FROM generate_series(1, {ROWS}) AS i"
            )
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_target (id integer primary key, name text)")

        def drop():
            with engine.begin() as connection:
                for suffix in ("source", "target"):
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}_{suffix}")

        self.addCleanup(drop)

        def count() -> int:
            with engine.connect() as connection:
                return connection.exec_driver_sql(f"SELECT count(*) FROM {prefix}_target").scalar()

        operation = self.write_operation(
            f"{{kind: postgresql, url: '{url}', table: {prefix}_source}}",
            f"{{kind: postgresql, url: '{url}', table: {prefix}_target}}",
            "process",
        )
        self.kill_part_way(operation, count)
        self.resume(operation)
        with engine.connect() as connection:
            total, distinct, highest = connection.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id), max(id) FROM {prefix}_target"
            ).one()
        self.assertEqual((total, distinct, highest), (ROWS, ROWS, ROWS))

    def postgres_tables(self, target_rows: str) -> tuple[str, str, sa.Engine]:
        """A source of ROWS rows and a target holding `target_rows` (a SELECT over generate_series)."""
        url = postgres_url()
        prefix = f"resume_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_source (id integer primary key, name text)")
            connection.exec_driver_sql(
                f"INSERT INTO {prefix}_source SELECT i, 'name ' || i FROM generate_series(1, {ROWS}) AS i"
            )
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_target (id integer primary key, name text)")
            connection.exec_driver_sql(f"INSERT INTO {prefix}_target {target_rows}")

        def drop():
            with engine.begin() as connection:
                for suffix in ("source", "target", "target_pdip_replace"):
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}_{suffix}")

        self.addCleanup(drop)
        return url, prefix, engine

    def test_a_killed_merge_resumes_to_a_target_equal_to_its_source(self):
        url, prefix, engine = self.postgres_tables(f"SELECT i, 'stale' FROM generate_series(1, {ROWS}) AS i")

        def count() -> int:
            with engine.connect() as connection:
                return connection.exec_driver_sql(
                    f"SELECT count(*) FROM {prefix}_target WHERE name <> 'stale'"
                ).scalar()

        operation = self.write_operation(
            f"{{kind: postgresql, url: '{url}', table: {prefix}_source}}",
            f"{{kind: postgresql, url: '{url}', table: {prefix}_target}}",
            "process",
            write="merge",
        )
        self.kill_part_way(operation, count)
        self.resume(operation)
        with engine.connect() as connection:
            total, equal = connection.exec_driver_sql(
                f"SELECT count(*), count(s.id) FROM {prefix}_target t "
                f"LEFT JOIN {prefix}_source s ON s.id = t.id AND s.name = t.name"
            ).one()
        self.assertEqual((total, equal), (ROWS, ROWS))

    def test_a_killed_replace_leaves_the_old_table_and_resumes_into_the_one_it_was_loading(self):
        url, prefix, engine = self.postgres_tables("SELECT i, 'old' FROM generate_series(-5, -1) AS i")

        def count() -> int:
            with engine.connect() as connection:
                if not sa.inspect(connection).has_table(f"{prefix}_target_pdip_replace"):
                    return 0
                return connection.exec_driver_sql(f"SELECT count(*) FROM {prefix}_target_pdip_replace").scalar()

        operation = self.write_operation(
            f"{{kind: postgresql, url: '{url}', table: {prefix}_source}}",
            f"{{kind: postgresql, url: '{url}', table: {prefix}_target}}",
            "process",
            write="replace",
        )
        self.kill_part_way(operation, count)
        with engine.connect() as connection:
            old = connection.exec_driver_sql(f"SELECT count(*), max(id) FROM {prefix}_target").one()
        self.assertEqual(tuple(old), (5, -1))
        output = self.resume(operation)
        read = int(re.search(r"copy: finished, (\d+) read", output).group(1))
        self.assertLess(read, ROWS - 9_000)  # it went on in the table it was loading
        with engine.connect() as connection:
            total, distinct, lowest, highest = connection.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {prefix}_target"
            ).one()
            staged = sa.inspect(connection).has_table(f"{prefix}_target_pdip_replace")
        self.assertEqual((total, distinct, lowest, highest, staged), (ROWS, ROWS, 1, ROWS, False))

    def mariadb_target(self, stale: int) -> tuple[str, sa.Engine, str]:
        """A PostgreSQL source of ROWS rows; a MariaDB target keyed on id holding ids 1..`stale`
        named 'stale' (or, with a negative `stale`, ids -5..-1 named 'old'). Returns the operation's
        source and target settings and the target's engine."""
        source_url, target_url = postgres_url(), mysql_url()
        prefix = f"resume_{uuid.uuid4().hex[:8]}"
        source, target = sa.create_engine(source_url), sa.create_engine(target_url)
        self.addCleanup(source.dispose)
        self.addCleanup(target.dispose)
        with source.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_source (id integer primary key, name text)")
            connection.exec_driver_sql(
                f"INSERT INTO {prefix}_source SELECT i, 'name ' || i FROM generate_series(1, {ROWS}) AS i"
            )
        held = (
            f"SELECT seq, 'stale' FROM seq_1_to_{stale}"
            if stale > 0
            else "SELECT CAST(seq AS SIGNED) - 6, 'old' FROM seq_1_to_5"
        )
        with target.begin() as connection:  # MariaDB's sequence engine makes the rows in the server
            connection.exec_driver_sql(f"CREATE TABLE {prefix}_target (id integer primary key, name varchar(40))")
            connection.exec_driver_sql(f"INSERT INTO {prefix}_target {held}")

        def drop():
            with source.begin() as connection:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}_source")
            with target.begin() as connection:
                for suffix in ("target", "target_pdip_replace"):
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}_{suffix}")

        self.addCleanup(drop)
        settings = (
            f"{{kind: postgresql, url: '{source_url}', table: {prefix}_source}}",
            f"{{kind: mysql, url: '{target_url}', table: {prefix}_target}}",
        )
        return settings, target, f"{prefix}_target"

    def test_a_killed_merge_into_mariadb_resumes_to_a_target_equal_to_its_source(self):
        (source, target), engine, table = self.mariadb_target(stale=ROWS)

        def count() -> int:
            with engine.connect() as connection:
                return connection.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE name <> 'stale'").scalar()

        operation = self.write_operation(source, target, "process", write="merge")
        self.kill_part_way(operation, count)
        self.resume(operation)
        with engine.connect() as connection:
            total, equal = connection.exec_driver_sql(
                f"SELECT count(*), SUM(name = CONCAT('name ', id)) FROM {table}"
            ).one()
        self.assertEqual((total, int(equal)), (ROWS, ROWS))

    def test_a_killed_replace_into_mariadb_keeps_the_old_table_and_resumes_into_the_one_it_was_loading(self):
        (source, target), engine, table = self.mariadb_target(stale=-1)

        def count() -> int:
            with engine.connect() as connection:
                if not sa.inspect(connection).has_table(f"{table}_pdip_replace"):
                    return 0
                return connection.exec_driver_sql(f"SELECT count(*) FROM {table}_pdip_replace").scalar()

        operation = self.write_operation(source, target, "process", write="replace")
        self.kill_part_way(operation, count)
        with engine.connect() as connection:
            self.assertEqual(tuple(connection.exec_driver_sql(f"SELECT count(*), max(id) FROM {table}").one()), (5, -1))
        output = self.resume(operation)
        read = int(re.search(r"copy: finished, (\d+) read", output).group(1))
        self.assertLess(read, ROWS - 9_000)  # it went on in the table it was loading
        with engine.connect() as connection:
            total, distinct, lowest, highest = connection.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"
            ).one()
            staged = sa.inspect(connection).has_table(f"{table}_pdip_replace")
        self.assertEqual((total, distinct, lowest, highest, staged), (ROWS, ROWS, 1, ROWS, False))

    def test_sqlite_to_sqlite_resumes_inline_and_the_execution_record_ends_finished(self):
        source, target = self.folder / "source.db", self.folder / "target.db"
        with sqlite3.connect(source) as connection:
            connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            connection.executemany("INSERT INTO items VALUES (?, ?)", ((i, f"name {i}") for i in range(1, ROWS + 1)))
        with sqlite3.connect(target) as connection:
            connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")

        def count() -> int:
            with sqlite3.connect(target, timeout=5) as connection:
                return connection.execute("SELECT count(*) FROM items").fetchone()[0]

        operation = self.write_operation(
            f"{{kind: sqlite, database: '{source}', table: items}}",
            f"{{kind: sqlite, database: '{target}', table: items}}",
            "inline",
        )
        self.kill_part_way(operation, count)
        output = self.resume(operation)
        self.assertIn("copy: finished", output)
        with sqlite3.connect(target) as connection:
            self.assertEqual(
                connection.execute("SELECT count(*), count(DISTINCT id) FROM items").fetchone(), (ROWS, ROWS)
            )
        listed = subprocess.run(
            [sys.executable, "-m", "pdip", "executions", "--root", str(self.folder)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertIn("nightly-1", listed.stdout)
        self.assertIn("finished", listed.stdout)


if __name__ == "__main__":
    unittest.main()
