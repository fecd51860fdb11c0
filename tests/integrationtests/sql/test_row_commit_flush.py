"""Which commits of a SQL row target wait for the disk, and that a run's last one is on disk
before it says finished (PostgreSQL, docs/adr/0006 addendum).

A constraint trigger on the target notes `synchronous_commit` and the WAL position as each
writing transaction commits. From a source that reads again after the position the target
stored, the first commit waits for its flush and the later ones do not; from one that does not
(an incremental read, whose watermark the state database keeps; memory) every commit waits.
Either way the WAL is flushed past the last commit when the run returns."""

import shutil
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from tests.support import servers
from tests.support.commit_modes import commit_modes, drop_notes, note_commits


class RowCommitFlushTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        suffix = uuid.uuid4().hex[:8]
        self.source, self.target, self.modes = (f"pdip_it_{kind}_{suffix}" for kind in ("rows", "copy", "modes"))
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.source} (id integer PRIMARY KEY, name text NOT NULL)")
            connection.exec_driver_sql(f"INSERT INTO {self.source} SELECT g, 'row ' || g FROM generate_series(1, 6) g")
            connection.exec_driver_sql(f"CREATE TABLE {self.target} (id integer PRIMARY KEY, name text NOT NULL)")
            note_commits(connection, self.target, self.modes)
        self.addCleanup(self.drop)
        self.root = Path(tempfile.mkdtemp(prefix="pdip-row-flush-"))
        self.addCleanup(shutil.rmtree, self.root, True)

    def drop(self):
        with self.engine.begin() as connection:
            for name in (self.source, self.target):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            drop_notes(connection, self.modes)

    def copy(self, source: Connection, stores: dict | None = None, **settings) -> tuple[list[str], bool]:
        """The rows copied in batches of 2: each writing transaction's `synchronous_commit`, and
        whether the WAL was flushed past the last of them when the run returned."""
        integration = Integration(
            "rows",
            source=source,
            target=Connection("postgresql", {"url": self.url, "table": self.target}),
            batch_size=2,
            **settings,
        )
        with Pdi(root_directory=str(self.root)) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores.update(stores or {})
            operation = Operation(f"flush-{self.target}", [integration], executor="inline" if stores else "process")
            result = integrator.integrate(operation)
            with self.engine.connect() as connection:
                flushed = connection.exec_driver_sql(
                    f"SELECT pg_current_wal_flush_lsn() >= max(lsn) FROM {self.modes}"
                ).scalar()
        self.assertTrue(result.ok, result["rows"].error)
        with self.engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(f"SELECT count(*) FROM {self.target}").scalar(), 6)
            return commit_modes(connection, self.modes), flushed

    def test_a_table_read_again_from_the_stored_position_flushes_the_first_commit_and_the_run_end(self):
        modes, flushed = self.copy(Connection("postgresql", {"url": self.url, "table": self.source}))
        self.assertEqual(modes, ["on", "off", "off"])
        self.assertTrue(flushed)

    def test_an_incremental_read_flushes_every_commit(self):
        source = Connection("postgresql", {"url": self.url, "table": self.source})
        self.assertEqual(self.copy(source, mode="incremental", cursor="id"), (["on", "on", "on"], True))

    def test_a_file_is_read_again_so_its_commits_after_the_first_do_not_wait(self):
        self.root.joinpath("rows.csv").write_text("id,name\n" + "".join(f"{i},row {i}\n" for i in range(1, 7)))
        self.assertEqual(self.copy(Connection("csv", {"path": "rows.csv"})), (["on", "off", "off"], True))

    def test_a_source_that_keeps_nothing_to_read_again_flushes_every_commit(self):
        rows = [{"id": i, "name": f"row {i}"} for i in range(1, 7)]
        modes, _ = self.copy(Connection("memory", {"store": "rows"}), stores={"rows": rows})
        self.assertEqual(modes, ["on", "on", "on"])


if __name__ == "__main__":
    unittest.main()
