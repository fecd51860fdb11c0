"""Which commits of a SQLite row target wait for the disk (docs/adr/0006, addendum).

SQLite files the integrator writes run in WAL mode with `synchronous=NORMAL`: a commit returns
before its pages reach the disk, and a power cut or an operating-system crash can take the last
commits back. A target may commit that way only when its source reads again after the stored
position (`Target.source_replays`), and only after a first commit that waited; from any other
source (memory, Kafka, an incremental read whose watermark is kept elsewhere) every commit waits
(`synchronous=FULL`). Either way the run's last commit waits, which syncs the whole WAL, before it
says finished. Each commit's mode is read on the connection as it commits."""

import contextlib
import shutil
import sqlite3
import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator

FULL, NORMAL = 2, 1  # `PRAGMA synchronous` answers with numbers


class SqliteCommitFlushTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-sqlite-flush-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        self.source, self.target = self.root / "source.db", self.root / "target.db"
        with contextlib.closing(sqlite3.connect(self.source)) as connection, connection:
            connection.execute("CREATE TABLE rows (id integer PRIMARY KEY, name text NOT NULL)")
            connection.executemany("INSERT INTO rows VALUES (?, ?)", [(i, f"row {i}") for i in range(1, 7)])
        with contextlib.closing(sqlite3.connect(self.target)) as connection, connection:
            connection.execute("CREATE TABLE copied (id integer PRIMARY KEY, name text NOT NULL)")
        self.modes: list[int] = []
        sa.event.listen(sa.engine.Engine, "commit", self.noted)
        self.addCleanup(sa.event.remove, sa.engine.Engine, "commit", self.noted)

    def noted(self, connection: sa.Connection) -> None:
        """The synchronous mode of each commit on the target file that wrote copied rows or positions."""
        if connection.engine.url.database == str(self.target) and connection.connection.in_transaction:
            self.modes.append(connection.exec_driver_sql("PRAGMA synchronous").scalar())

    def copy(self, source: Connection, stores: dict | None = None, **settings) -> list[int]:
        integration = Integration(
            "rows",
            source=source,
            target=Connection("sqlite", {"url": f"sqlite:///{self.target}", "table": "copied"}),
            batch_size=2,
            **settings,
        )
        with Pdi(root_directory=str(self.root)) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores.update(stores or {})
            result = integrator.integrate(Operation("flush", [integration], executor="inline"))
        self.assertTrue(result.ok, result["rows"].error)
        with contextlib.closing(sqlite3.connect(self.target)) as connection:
            self.assertEqual(connection.execute("SELECT count(*) FROM copied").fetchone(), (6,))
        return self.modes

    def test_a_table_read_again_waits_for_the_first_commit_and_for_the_run_end(self):
        modes = self.copy(Connection("sqlite", {"url": f"sqlite:///{self.source}", "table": "rows"}))
        self.assertEqual(modes, [FULL, NORMAL, NORMAL, FULL])

    def test_a_source_that_keeps_nothing_to_read_again_waits_for_every_commit(self):
        rows = [{"id": i, "name": f"row {i}"} for i in range(1, 7)]
        self.assertEqual(self.copy(Connection("memory", {"store": "rows"}), stores={"rows": rows}), [FULL] * 3)

    def test_an_incremental_read_waits_for_every_commit(self):
        source = Connection("sqlite", {"url": f"sqlite:///{self.source}", "table": "rows"})
        self.assertEqual(self.copy(source, mode="incremental", cursor="id"), [FULL] * 3)


if __name__ == "__main__":
    unittest.main()
