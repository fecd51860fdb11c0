"""Which change sources read again, after a crash, from the position the target stored: only
their targets may commit without waiting for the disk (docs/adr/0006, addendum)."""

import unittest

from pdip.integrator import Connection
from pdip.integrator.adapters.base import Target, keep_positions
from pdip.integrator.adapters.file.changes import JsonLinesChangesSource
from pdip.integrator.adapters.kafka.topics import KafkaChangesSource
from pdip.integrator.adapters.memory_changes import MemoryChangesSource
from pdip.integrator.adapters.sql.capture_mariadb import BinlogCaptureSource
from pdip.integrator.adapters.sql.capture_postgres import PostgresCaptureSource
from pdip.integrator.adapters.sql.changes import OutboxSource


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

    def test_the_target_learns_it_with_its_slot(self):
        target = Written(Connection("memory", {}), None)
        self.assertFalse(target.source_replays)
        keep_positions(target, "op/integration", OutboxSource.__new__(OutboxSource))
        self.assertEqual((target.position_slot, target.source_replays), ("op/integration", True))
        keep_positions(target, "op/other", KafkaChangesSource.__new__(KafkaChangesSource))
        self.assertEqual((target.position_slot, target.source_replays), ("op/other", False))


if __name__ == "__main__":
    unittest.main()
