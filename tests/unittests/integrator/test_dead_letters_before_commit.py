"""A refused row is dead-lettered before the batch's position is committed at the target.

The position a target stores with its rows is what a resumed run starts after. Were a refused
row stored in the state database only once the target had committed, a crash between the two
would leave the run's record with no trace of the row, and the resume would never read it again.
Here the run is killed (SIGKILL) the moment the target's write returns, its batch and position
committed: the row the source could not read must already be in the dead letters, and the resume
must not store it twice."""

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from pdip.tracking import ChangeLogEntry

ROOT = Path(__file__).resolve().parents[3]

RUN = textwrap.dedent("""\
    import os, signal, sys

    from pdip import Pdi
    from pdip.integrator import Connection, Integration, Operation
    from pdip.integrator.adapters.sql.changes import SqlApplyTarget
    from pdip.integrator.adapters.sql.rows import SqlTarget
    from pdip.integrator.base import Integrator

    root, resume, target, changes = sys.argv[1], sys.argv[2] == "resume", sys.argv[3], sys.argv[4] == "changes"
    duck = target.endswith(".duckdb")
    if not resume:
        if duck:
            from pdip.integrator.adapters.duckdb import DuckDbTarget as kind
        else:
            kind = SqlApplyTarget if changes else SqlTarget
        written = kind.write

        def write_then_die(self, batch):
            result = written(self, batch)  # rows and position committed
            os.kill(os.getpid(), signal.SIGKILL)

        kind.write = write_then_die
    integration = Integration(
        "rows",
        source=Connection("jsonl" if changes else "csv", {"path": "log.jsonl" if changes else "rows.csv"}),
        target=Connection("duckdb", {"database": f"{root}/{target}", "table": "copied"}) if duck
        else Connection("sqlite", {"url": f"sqlite:///{root}/{target}", "table": "copied"}),
        create_target=not changes,
        batch_size=3,
        max_errors=10 if changes else 0,
        **({"mode": "changes"} if changes else {}),
    )
    with Pdi(root_directory=root) as pdi:
        result = pdi.get(Integrator).integrate(
            Operation("kills", [integration], executor="inline"), execution_id="kills-1", resume=resume
        )
    sys.exit(0 if result.ok else 1)
    """)


class DeadLettersBeforeCommitTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-dead-before-commit-"))
        # the first batch (lines 2-4) holds a record of three fields under a header of two
        self.root.joinpath("rows.csv").write_text("id,name\n1,one\n2,two,extra\n3,three\n4,four\n5,five\n")

    def run_pdip(self, how: str, target: str = "target.db", mode: str = "rows") -> int:
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, "-c", RUN, str(self.root), how, target, mode],
            env=environment,
            capture_output=True,
            timeout=120,
        ).returncode

    def dead_letters(self) -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(self.root / ".pdip" / "state.db")) as connection:
            return connection.execute("SELECT position, reason FROM pdip_dead_letter ORDER BY id").fetchall()

    def copied(self, target: str = "target.db") -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.root / target)) as connection:
            return connection.execute("SELECT id, name FROM copied ORDER BY id").fetchall()

    def test_a_row_the_source_refused_is_stored_before_its_batch_is_committed(self):
        self.assertEqual(self.run_pdip("first"), -9)
        self.assertEqual([row[1] for row in self.copied()], ["one", "three"])
        refused = self.dead_letters()
        self.assertEqual(len(refused), 1, refused)
        self.assertEqual(self.run_pdip("resume"), 0)
        self.assertEqual(self.dead_letters(), refused)
        self.assertEqual([row[1] for row in self.copied()], ["one", "three", "four", "five"])

    def assert_refused_by_the_target_stored_first(self, target: str) -> None:
        """The table refuses the name `two`: its row is found in a transaction rolled back and
        stored before the others are committed; the state database may be the target's file."""
        self.root.joinpath("rows.csv").write_text("id,name\n1,one\n2,two\n3,three\n4,four\n5,five\n")
        self.root.joinpath(target).parent.mkdir(exist_ok=True)
        with contextlib.closing(sqlite3.connect(self.root / target)) as connection, connection:
            connection.execute("CREATE TABLE copied (id integer PRIMARY KEY, name text CHECK (name <> 'two'))")
        self.assertEqual(self.run_pdip("first", target), -9)
        self.assertEqual([row[1] for row in self.copied(target)], ["one", "three"])
        refused = self.dead_letters()
        self.assertEqual([reason for _, reason in refused], ["IntegrityError: CHECK constraint failed: name <> 'two'"])
        self.assertEqual(self.run_pdip("resume", target), 0)
        self.assertEqual(self.dead_letters(), refused)
        self.assertEqual([row[1] for row in self.copied(target)], ["one", "three", "four", "five"])

    def test_a_row_the_target_refused_is_stored_before_its_batch_is_committed(self):
        self.assert_refused_by_the_target_stored_first("target.db")

    def test_a_row_a_duckdb_table_refused_is_stored_before_its_batch_is_committed(self):
        import duckdb

        self.root.joinpath("rows.csv").write_text("id,name\n1,one\n2,two\n3,three\n4,four\n5,five\n")
        target = self.root / "target.duckdb"
        with duckdb.connect(str(target)) as connection:
            connection.execute("CREATE TABLE copied (id BIGINT PRIMARY KEY, name VARCHAR CHECK (name <> 'two'))")
        self.assertEqual(self.run_pdip("first", "target.duckdb"), -9)
        refused = self.dead_letters()
        self.assertEqual(len(refused), 1, refused)
        self.assertIn("CHECK constraint failed", refused[0][1])
        self.assertEqual(self.run_pdip("resume", "target.duckdb"), 0)
        self.assertEqual(self.dead_letters(), refused)
        with duckdb.connect(str(target)) as connection:
            names = connection.execute("SELECT name FROM copied ORDER BY id").fetchall()
        self.assertEqual([name for (name,) in names], ["one", "three", "four", "five"])

    def test_the_target_may_be_the_state_database_s_own_file(self):
        self.assert_refused_by_the_target_stored_first(".pdip/state.db")

    def assert_entries_refused_stored_first(self, entries: list[ChangeLogEntry], reasons: list[str]) -> None:
        """The replica's first batch (three entries) refuses `reasons`; the run is killed as its
        write returns, then resumed."""
        self.root.joinpath("log.jsonl").write_text("".join(entry.to_json() + "\n" for entry in entries))
        with contextlib.closing(sqlite3.connect(self.root / "target.db")) as connection, connection:
            connection.execute(
                "CREATE TABLE copied (id integer PRIMARY KEY, name text CHECK (name <> 'two'), n integer)"
            )
        self.assertEqual(self.run_pdip("first", mode="changes"), -9)
        refused = self.dead_letters()
        self.assertEqual(len(refused), len(reasons), refused)
        for (_, reason), expected in zip(refused, reasons, strict=True):
            self.assertIn(expected, reason)
        self.assertEqual(self.run_pdip("resume", mode="changes"), 0)
        self.assertEqual(self.dead_letters(), refused)
        self.assertEqual(self.copied(), [(1, "one"), (3, "three"), (4, "four")])  # an update carries not the whole row

    def test_an_entry_the_replica_finds_no_row_for_is_stored_before_its_batch_is_committed(self):
        self.assert_entries_refused_stored_first(
            [insert(1, "one"), update(9, "not there"), insert(3, "three"), insert(4, "four")],
            ["update of a row table 'copied' does not have (id=9)"],
        )

    def test_an_entry_the_replica_refuses_one_by_one_is_stored_before_its_batch_is_committed(self):
        self.assert_entries_refused_stored_first(
            [insert(1, "one"), insert(2, "two"), insert(3, "three"), insert(4, "four")],
            ["CHECK constraint failed: name <> 'two'"],
        )


def insert(key: int, name: str) -> ChangeLogEntry:
    return ChangeLogEntry("insert", entity="copied", key=key, after={"id": key, "name": name, "n": key})


def update(key: int, name: str) -> ChangeLogEntry:
    return ChangeLogEntry("update", entity="copied", key=key, after={"name": name})


if __name__ == "__main__":
    unittest.main()
