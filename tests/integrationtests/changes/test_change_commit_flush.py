"""Which commits of a change-log target wait for the disk (PostgreSQL, docs/adr/0006 addendum).

A trigger on the replica notes `synchronous_commit` as each applying transaction commits: the
first commit of a slot waits for its flush (it puts the slot's position on disk), and later ones
do not when the source reads again after the stored position (the outbox); with a source that
does not (here a JSON Lines file) every commit waits."""

import json
import shutil
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.sql import positions
from pdip.integrator.adapters.sql.changes import SqlApplyTarget
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch
from pdip.tracking import ChangeLogEntry, SqlExporter
from tests.integrationtests.kafka.support import Context
from tests.support import servers
from tests.support.commit_modes import commit_modes, drop_notes, note_commits


def insert(key):
    return ChangeLogEntry("insert", entity="accounts", key=key, after={"id": key, "name": f"account {key}"})


class CommitFlushTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        suffix = uuid.uuid4().hex[:8]
        self.replica, self.modes, self.outbox = (f"pdip_it_{kind}_{suffix}" for kind in ("replica", "modes", "outbox"))
        self.slot = f"pdip-it-flush-{suffix}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.replica} (id integer PRIMARY KEY, name text NOT NULL)")
            note_commits(connection, self.replica, self.modes)
        self.addCleanup(self.drop)
        self.root = Path(tempfile.mkdtemp(prefix="pdip-flush-"))
        self.addCleanup(shutil.rmtree, self.root, True)

    def drop(self):
        with self.engine.begin() as connection:
            for name in (self.replica, self.outbox):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            drop_notes(connection, self.modes)
            if sa.inspect(connection).has_table(positions.POSITIONS.name):
                connection.execute(
                    positions.POSITIONS.delete().where(positions.POSITIONS.c.slot.like(f"%{self.slot}%"))
                )

    def commit_modes(self) -> list[str]:
        """`synchronous_commit` of each transaction that wrote the replica, in the order they wrote."""
        with self.engine.connect() as connection:
            return commit_modes(connection, self.modes)

    def replica_ids(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.exec_driver_sql(f"SELECT id FROM {self.replica} ORDER BY id").scalars())

    def apply(self, source: Connection) -> None:
        operation = Operation(
            f"flush-{self.slot}",
            [
                Integration(
                    "to-replica",
                    source=source,
                    target=Connection("postgresql", {"url": self.url, "table": self.replica}),
                    mode="changes",
                    batch_size=2,
                )
            ],
            executor="inline",
        )
        with Pdi(root_directory=str(self.root)) as pdi:
            result = pdi.get(Integrator).integrate(operation)
        self.assertTrue(result.ok, [item.error for item in result.integrations])

    def test_an_outbox_run_flushes_the_first_commit_and_not_the_next(self):
        with SqlExporter(self.engine, table=self.outbox, create_table=True, batch_size=100) as exporter:
            for key in range(1, 7):
                exporter(insert(key))
        self.apply(Connection("postgresql", {"url": self.url, "table": self.outbox}))
        self.assertEqual(self.commit_modes(), ["on", "off", "off"])
        self.assertEqual(self.replica_ids(), [1, 2, 3, 4, 5, 6])

    def test_a_source_that_does_not_replay_from_the_target_flushes_every_commit(self):
        path = self.root / "changes.jsonl"
        path.write_text("".join(json.dumps(insert(key).to_dict()) + "\n" for key in range(1, 7)))
        self.apply(Connection("jsonl", {"path": str(path)}))
        self.assertEqual(self.commit_modes(), ["on", "on", "on"])
        self.assertEqual(self.replica_ids(), [1, 2, 3, 4, 5, 6])

    def test_each_slot_flushes_its_first_commit(self):
        target = SqlApplyTarget(Connection("postgresql", {"url": self.url, "table": self.replica}), Context())
        self.addCleanup(target.close)
        target.prepare(["entry"], create=False, truncate=False)
        target.position_slot, target.source_replays = self.slot, True
        for key, partition in [(1, None), (2, None), (3, "p1"), (4, "p1"), (5, None)]:
            batch = entries_batch([insert(key)], position=key)
            batch.partition = partition
            target.write(batch)
        self.assertEqual(self.commit_modes(), ["on", "off", "on", "off", "off"])
        self.assertEqual(target.durable_position(self.slot), 5)
        self.assertEqual(target.durable_position(f"{self.slot}/p1"), 4)


if __name__ == "__main__":
    unittest.main()
