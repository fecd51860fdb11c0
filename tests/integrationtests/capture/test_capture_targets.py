"""Captured changes into a Kafka topic and a JSON Lines file: the same entries as into a replica,
and the slot confirmed only once the target has them (Kafka: once the broker confirmed them)."""

from __future__ import annotations

import json
import os

from pdip.integrator import Connection
from pdip.integrator.changes import entry_from_json
from tests.integrationtests.capture.test_postgres_capture import CaptureCase, capture
from tests.integrationtests.kafka.support import raw_messages
from tests.support.kafka_broker import free_port
from tests.support.servers import kafka_bootstrap


class CaptureTargetTests(CaptureCase):
    def changes(self, table):
        self.sql(
            self.source,
            f"INSERT INTO {table} VALUES (3, 'c')",
            f"UPDATE {table} SET body = 'A' WHERE id = 1",
            f"DELETE FROM {table} WHERE id = 2",
        )

    def checkpoint_lsn(self, name):
        from pdip import Pdi
        from pdip.integrator import StateStore

        with Pdi(root_directory=self.root.name) as pdi:
            return pdi.get(StateStore).checkpoint(name, "capture").positions[""]["lsn"]

    def test_to_kafka_the_slot_moves_only_after_the_broker_confirmed(self):
        name, topic = "kafka_capture", f"capture-{os.getpid()}"
        self.drop(name, "parcels")
        self.sql(self.source, "CREATE TABLE parcels (id int PRIMARY KEY, body text)")
        self.sql(self.source, "INSERT INTO parcels VALUES (1, 'a'), (2, 'b')")
        bootstrap = kafka_bootstrap()
        source = capture(name, tables=["parcels"], create=True)
        target = Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic})
        self.assertTrue(self.run_capture(name, source, target)[0].ok)  # the snapshot
        self.changes("parcels")
        before = self.slot_lsn(name)[0]
        # a broker that never answers: nothing is confirmed, so neither is the slot
        nowhere = Connection(
            "kafka", {"bootstrap_servers": f"127.0.0.1:{free_port()}", "topic": topic, "delivery_timeout": 1.0}
        )
        result, _ = self.run_capture(name, source, nowhere, execution="down")
        self.assertFalse(result.ok)
        self.assertIn("not delivered", result["capture"].error)
        self.assertEqual(self.slot_lsn(name)[0], before)
        result, _ = self.run_capture(name, source, target, execution="up")
        self.assertTrue(result.ok, result)
        self.assertEqual(result["capture"].rows_written, 3)
        messages = raw_messages(bootstrap, topic)
        entries = [entry_from_json(value) for _, _, value in messages]
        by_key = {}  # a key's changes keep their order (the topic may have several partitions)
        for (_, key, _), entry in zip(messages, entries, strict=True):
            self.assertEqual(json.loads(key), ["parcels", entry.key])
            by_key.setdefault(entry.key, []).append((entry.action, entry.after))
        self.assertEqual(
            by_key,
            {
                1: [("insert", {"id": 1, "body": "a"}), ("update", {"id": 1, "body": "A"})],
                2: [("insert", {"id": 2, "body": "b"}), ("delete", None)],
                3: [("insert", {"id": 3, "body": "c"})],
            },
        )
        self.assertEqual(self.slot_lsn(name)[0], self.checkpoint_lsn(name))
        self.assertGreater(self.slot_lsn(name)[0], before)

    def test_to_json_lines_every_entry_once_and_the_slot_at_the_checkpoint(self):
        name = "jsonl_capture"
        self.drop(name, "letters")
        self.sql(self.source, "CREATE TABLE letters (id int PRIMARY KEY, body text)")
        path = os.path.join(self.root.name, "letters.jsonl")
        source = capture(name, tables=["letters"], create=True, snapshot=False)  # the stream alone
        target = Connection("jsonl", {"path": path})
        self.assertTrue(self.run_capture(name, source, target)[0].ok)
        self.sql(self.source, "INSERT INTO letters VALUES (1, 'a'), (2, 'b')")
        self.changes("letters")
        self.assertTrue(self.run_capture(name, source, target, execution="run-2")[0].ok)
        self.assertTrue(self.run_capture(name, source, target, execution="run-3")[0].ok)  # nothing new
        with open(path, encoding="utf-8") as lines:
            entries = [entry_from_json(line) for line in lines]
        self.assertEqual({entry.entity for entry in entries}, {"letters"})
        self.assertEqual(
            [(entry.action, entry.key) for entry in entries],
            [("insert", 1), ("insert", 2), ("insert", 3), ("update", 1), ("delete", 2)],
        )
        self.assertEqual(entries[4].before, {"id": 2})
        self.assertIsNotNone(entries[3].timestamp)
        self.assertEqual(self.slot_lsn(name)[0], self.checkpoint_lsn(name))
