"""Which sources read again, after a crash, from the position the target stored: only their
targets may commit without waiting for the disk (docs/adr/0006, addendum)."""

import unittest

from pdip.integrator import Connection
from pdip.integrator.adapters.base import Target, keep_positions
from pdip.integrator.adapters.clickhouse import ClickHouseSource
from pdip.integrator.adapters.duckdb import DuckDbSource
from pdip.integrator.adapters.file.changes import JsonLinesChangesSource
from pdip.integrator.adapters.file.rows import FileSource
from pdip.integrator.adapters.kafka.topics import KafkaChangesSource, KafkaSource
from pdip.integrator.adapters.lakehouse.delta import DeltaSource
from pdip.integrator.adapters.lakehouse.iceberg import IcebergSource
from pdip.integrator.adapters.memory import MemorySource
from pdip.integrator.adapters.memory_changes import MemoryChangesSource
from pdip.integrator.adapters.rest.rows import RestSource
from pdip.integrator.adapters.soap import SoapSource
from pdip.integrator.adapters.sql.capture_mariadb import BinlogCaptureSource
from pdip.integrator.adapters.sql.capture_postgres import PostgresCaptureSource
from pdip.integrator.adapters.sql.changes import OutboxSource
from pdip.integrator.adapters.sql.rows import SqlSource


class Written(Target):
    def write(self, batch):
        raise NotImplementedError


class ReplayingSourcesTest(unittest.TestCase):
    def test_only_the_outbox_replays_from_the_stored_position(self):
        replaying = {
            source.__name__: source.replays_from_stored_position
            for source in (
                OutboxSource,
                PostgresCaptureSource,  # confirms its slot to the server once the target committed
                BinlogCaptureSource,
                KafkaChangesSource,  # a rebalance starts from the group's offsets when they are later
                JsonLinesChangesSource,
                MemoryChangesSource,
            )
        }
        self.assertEqual([name for name, replays in replaying.items() if replays], ["OutboxSource"])

    def test_row_sources_of_stores_replay_and_kafka_does_not(self):
        replaying = {
            source.__name__: source.replays_from_stored_position
            for source in (
                SqlSource,
                FileSource,
                DuckDbSource,
                DeltaSource,
                IcebergSource,
                ClickHouseSource,
                KafkaSource,  # its group's offsets move on when the target's commit returns
                RestSource,  # a service's pages may not be there to read again
                SoapSource,
                MemorySource,  # gone with the process
            )
        }
        self.assertEqual(
            [name for name, replays in replaying.items() if replays],
            ["SqlSource", "FileSource", "DuckDbSource", "DeltaSource", "IcebergSource", "ClickHouseSource"],
        )

    def test_an_incremental_read_does_not_replay(self):
        """Its high watermark is kept in the state database batch by batch: it could be ahead of
        commits a crash of the target's store takes back."""
        target = Written(Connection("memory", {}), None)
        keep_positions(target, "op/rows", SqlSource.__new__(SqlSource))
        self.assertTrue(target.source_replays)
        keep_positions(target, "op/rows", SqlSource.__new__(SqlSource), incremental=True)
        self.assertFalse(target.source_replays)

    def test_the_target_learns_it_with_its_slot(self):
        target = Written(Connection("memory", {}), None)
        self.assertFalse(target.source_replays)
        keep_positions(target, "op/integration", OutboxSource.__new__(OutboxSource))
        self.assertEqual((target.position_slot, target.source_replays), ("op/integration", True))
        keep_positions(target, "op/other", KafkaChangesSource.__new__(KafkaChangesSource))
        self.assertEqual((target.position_slot, target.source_replays), ("op/other", False))


if __name__ == "__main__":
    unittest.main()
