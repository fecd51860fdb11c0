"""Processes of `pdip run` killed with SIGKILL at random moments, 20 times over, then `--resume`.

A reader killed at any instant (also half-way through sending a batch) fails the run within 5 s,
naming the reader and its signal; a writer killed at any instant takes its readers with it within
5 s and leaves no lock on the target. Nothing is left running, and the last `--resume` makes the
target equal to the source, row for row.
"""

import contextlib
import os
import random
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

from tests.support.servers import postgres_url

ROOT = Path(__file__).resolve().parents[3]
KILLS = 20
EXECUTION = "faults-1"
WINDOW = 0.25  # seconds after the readers start within which each kill falls


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class KillFaultsBase(unittest.TestCase):
    rows = 0

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-faults-"))
        self.random = random.Random(int(os.environ.get("PDIP_FAULTS_SEED", "20261205")))

    def write_operation(self, source: str, target: str) -> Path:
        path = self.folder / "op.yml"
        path.write_text(
            textwrap.dedent(f"""\
                name: faults
                integrations:
                  - name: copy
                    source: {source}
                    target: {target}
                    key: [id]
                    parallelism: 2
                    batch_size: 20000
                """),
            encoding="utf-8",
        )
        return path

    def start(self, operation: Path, first: bool) -> subprocess.Popen:
        arguments = ["--execution-id", EXECUTION] if first else ["--resume"]
        return subprocess.Popen(
            [sys.executable, "-m", "pdip", "run", str(operation), *arguments, "--no-progress"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: what the test looks for and cleans up
        )

    def readers(self, process: subprocess.Popen) -> list[int]:
        """The run's reader processes, once they are reading (None if the run ended first)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            found = children_of(process.pid)
            if len(found) >= 1:
                return found
            time.sleep(0.01)
        return []

    def finish(self, process: subprocess.Popen, killed_at: float) -> tuple[int, str, float]:
        output, _ = process.communicate(timeout=60)
        return process.returncode, output, time.monotonic() - killed_at

    def assert_nothing_left(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + 5
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(group_alive(process.pid), "a process of the killed run is still running after 5 s")

    def kill_readers_and_resume(self, operation: Path) -> int:
        """Kill a reader of each run at a random moment; the count of runs that were killed."""
        killed = 0
        for attempt in range(KILLS):
            process = self.start(operation, first=attempt == 0)
            readers = self.readers(process)
            if not readers:
                break  # the run finished before its readers were seen: nothing left to kill
            time.sleep(self.random.uniform(0.0, WINDOW))
            victim = self.random.choice(readers)
            with contextlib.suppress(ProcessLookupError):  # that reader had just finished
                os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            code, output, seconds = self.finish(process, killed_at)
            self.assert_nothing_left(process)
            if code == 0:
                break  # the reader had finished: the run ended well
            killed += 1
            self.assertEqual(code, 1, output)
            self.assertRegex(output, r"the reader( \d of 2)? was killed \(signal 9, SIGKILL\)")
            self.assertLess(seconds, 5, output)
        return killed

    def kill_writers_and_resume(self, operation: Path, locks=lambda: 0) -> int:
        killed = 0
        for attempt in range(KILLS):
            process = self.start(operation, first=attempt == 0)
            if not self.readers(process):
                break
            time.sleep(self.random.uniform(0.0, WINDOW))
            if process.poll() is not None:
                process.communicate()
                break
            os.kill(process.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            process.communicate(timeout=30)
            self.assert_nothing_left(process)
            self.assertLess(time.monotonic() - killed_at, 5.5)
            deadline = time.monotonic() + 5
            while locks() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(locks(), 0, "a lock of the killed writer is still held on the target")
            killed += 1
        return killed

    def resume_to_the_end(self, operation: Path) -> str:
        process = self.start(operation, first=False)
        output, _ = process.communicate(timeout=300)
        if process.returncode == 2 and "no unfinished run" in output:
            return output  # the last killed run had in fact finished
        self.assertEqual(process.returncode, 0, output)
        self.assertIn(f"execution {EXECUTION}", output)
        return output


class PostgresKillFaultsTest(KillFaultsBase):
    rows = 1_000_000

    def setUp(self):
        super().setUp()
        self.url = postgres_url()
        self.prefix = f"faults_{uuid.uuid4().hex[:8]}"
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.prefix}_source (id integer primary key, name text, amount numeric(12, 2))"
            )
            connection.exec_driver_sql(
                f"INSERT INTO {self.prefix}_source SELECT i, 'name ' || i, i / 100.0 "
                f"FROM generate_series(1, {self.rows}) AS i"
            )
            connection.exec_driver_sql(
                f"CREATE TABLE {self.prefix}_target (id integer primary key, name text, amount numeric(12, 2))"
            )
        self.addCleanup(self.drop)
        self.operation = self.write_operation(
            f"{{kind: postgresql, url: '{self.url}', table: {self.prefix}_source}}",
            f"{{kind: postgresql, url: '{self.url}', table: {self.prefix}_target}}",
        )

    def drop(self):
        with self.engine.begin() as connection:
            for suffix in ("source", "target"):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.prefix}_{suffix}")

    def summary(self, suffix: str) -> tuple:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id), sum(id), sum(hashtext(name)::bigint), sum(amount) "
                f"FROM {self.prefix}_{suffix}"
            ).one()

    def locks_on_target(self) -> int:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_locks.relation = pg_class.oid "
                f"WHERE pg_class.relname = '{self.prefix}_target' AND pg_locks.pid <> pg_backend_pid()"
            ).scalar()

    def test_readers_killed_at_random_moments_fail_fast_and_resume_makes_the_target_equal(self):
        killed = self.kill_readers_and_resume(self.operation)
        self.assertGreaterEqual(killed, KILLS // 2, "too few runs lasted long enough to be killed")
        self.resume_to_the_end(self.operation)
        self.assertEqual(self.summary("target"), self.summary("source"))

    def test_writers_killed_at_random_moments_leave_nothing_behind_and_resume_makes_the_target_equal(self):
        killed = self.kill_writers_and_resume(self.operation, self.locks_on_target)
        self.assertGreaterEqual(killed, KILLS // 2, "too few runs lasted long enough to be killed")
        self.resume_to_the_end(self.operation)
        self.assertEqual(self.summary("target"), self.summary("source"))


class CsvToSqliteKillFaultsTest(KillFaultsBase):
    rows = 300_000

    def setUp(self):
        super().setUp()
        source = self.folder / "items.csv"
        with source.open("w", encoding="utf-8") as file:
            file.write("id,name\n")
            file.writelines(f"{i},name {i}\n" for i in range(1, self.rows + 1))
        self.target = self.folder / "target.db"
        with sqlite3.connect(self.target) as connection:
            connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        self.operation = self.write_operation(
            f"{{kind: csv, path: '{source}', types: {{id: int}}}}",
            f"{{kind: sqlite, database: '{self.target}', table: items}}",
        )

    def summary(self) -> tuple:
        with sqlite3.connect(self.target, timeout=10) as connection:
            return connection.execute(
                "SELECT count(*), count(DISTINCT id), sum(id), total(length(name)) FROM items"
            ).fetchone()

    def expected(self) -> tuple:
        return (
            self.rows,
            self.rows,
            self.rows * (self.rows + 1) // 2,
            float(sum(len(f"name {i}") for i in range(1, self.rows + 1))),
        )

    def test_readers_killed_at_random_moments_fail_fast_and_resume_makes_the_target_equal(self):
        self.kill_readers_and_resume(self.operation)
        self.resume_to_the_end(self.operation)
        self.assertEqual(self.summary(), self.expected())

    def test_writers_killed_at_random_moments_leave_nothing_behind_and_resume_makes_the_target_equal(self):
        self.kill_writers_and_resume(self.operation)
        self.resume_to_the_end(self.operation)
        self.assertEqual(self.summary(), self.expected())


if __name__ == "__main__":
    unittest.main()
