"""The Kafka adapter in change-log mode: entries as JSON with their schema version, keyed by
entity and key, tombstones for compacted topics, and bad messages dead-lettered."""

import datetime as dt
import json
import unittest
from decimal import Decimal

from pdip.integrator.adapters.kafka.topics import KafkaChangesSource, KafkaChangesTarget
from pdip.integrator.changes import batch_entries, entries_batch, message_key
from pdip.tracking import ChangeLogEntry
from tests.integrationtests.kafka.support import Context, create_topic, kafka, raw_messages, read_all, topic_name
from tests.support import servers

ENTRIES = [
    ChangeLogEntry("insert", entity="accounts", key=1, after={"id": 1, "balance": Decimal("10.50")}, sequence=1),
    ChangeLogEntry("insert", entity="accounts", key=2, after={"id": 2, "opened": dt.date(2026, 1, 2)}, sequence=2),
    ChangeLogEntry(
        "update",
        entity="accounts",
        key=1,
        before={"balance": Decimal("10.50")},
        after={"balance": Decimal("0")},
        sequence=3,
    ),
    ChangeLogEntry("delete", entity="accounts", key=2, before={"id": 2}, sequence=4, actor="ops"),
]


def send(bootstrap, topic, entries=ENTRIES, **settings):
    target = KafkaChangesTarget(kafka(bootstrap, topic, **settings), Context())
    try:
        target.prepare(["entry"], create=True, truncate=False)
        result = target.write(entries_batch(entries))
        target.commit()
    finally:
        target.close()
    return result


class KafkaChangesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = servers.kafka_bootstrap()

    def test_entries_travel_as_versioned_json_keyed_by_entity_and_key_and_come_back_equal(self):
        topic = topic_name("changes")
        self.assertEqual(send(self.bootstrap, topic, partitions=3).written, 4)
        messages = raw_messages(self.bootstrap, topic)
        first = json.loads(next(value for _, key, value in messages if key == b'["accounts",2]'))
        self.assertEqual(
            (first["schema_version"], first["action"], first["after"]["opened"]), (1, "insert", {"$date": "2026-01-02"})
        )
        partitions = {key: partition for partition, key, _ in messages}
        self.assertEqual(len(partitions), 2, "one row's changes share one partition")
        source = KafkaChangesSource(kafka(self.bootstrap, topic, group=topic), Context())
        try:
            received = [entry for batch in read_all(source) for entry in batch_entries(batch)]
        finally:
            source.close()
        by_sequence = sorted(received, key=lambda entry: entry.sequence)
        self.assertEqual(by_sequence, ENTRIES)
        self.assertEqual([e.sequence for e in received if e.key == 1], [1, 3], "in order per key")

    def test_with_tombstones_a_delete_is_followed_by_a_message_without_value_on_a_compacted_topic(self):
        topic = topic_name("compacted")
        result = send(self.bootstrap, topic, tombstones=True, compacted=True)
        self.assertEqual(result.written, 4)
        messages = raw_messages(self.bootstrap, topic)
        self.assertEqual(len(messages), 5)
        self.assertEqual(messages[-1][1:], (message_key(ENTRIES[3]), None))
        source = KafkaChangesSource(kafka(self.bootstrap, topic, group=topic), Context())
        try:
            batches = read_all(source)
        finally:
            source.close()
        self.assertEqual([entry.sequence for batch in batches for entry in batch_entries(batch)], [1, 2, 3, 4])
        self.assertEqual([batch.rejected for batch in batches], [[]])

    def test_an_entry_that_cannot_be_json_is_refused(self):
        strange = ChangeLogEntry("insert", entity="accounts", key=9, after={"id": 9, "x": object()})
        result = send(self.bootstrap, topic_name("strange"), [strange, ENTRIES[0]])
        self.assertEqual((result.written, result.rejected[0][1][:32]), (1, "cannot write the entry as JSON: "))

    def test_messages_that_are_not_entries_are_rejected_and_the_read_goes_on(self):
        from confluent_kafka import Producer

        topic = create_topic(self.bootstrap, topic_name("bad-changes"))
        future = {**ENTRIES[0].to_dict(), "schema_version": 99}
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for value in (
            ENTRIES[0].to_json(),
            "{broken",
            json.dumps(future),
            json.dumps({"schema_version": 1}),
            "[]",
            ENTRIES[1].to_json(),
        ):
            producer.produce(topic, value.encode(), b"k")
        producer.produce(topic, b"\xff\xfe", b"k")
        producer.flush(10)
        source = KafkaChangesSource(kafka(self.bootstrap, topic, group=topic), Context())
        try:
            batches = read_all(source, batch_size=3)
        finally:
            source.close()
        self.assertEqual([entry.sequence for batch in batches for entry in batch_entries(batch)], [1, 2])
        rejected = [item for batch in batches for item in batch.rejected]
        reasons = [reason for _, reason in rejected]
        self.assertEqual(reasons[0], f"{topic}[0]@1: not valid JSON: Expecting property name enclosed in double quotes")
        self.assertEqual(
            reasons[1], f"{topic}[0]@2: change-log entry schema_version 99 is not supported (this pdip reads 1)"
        )
        self.assertTrue(reasons[2].startswith(f"{topic}[0]@3: not a change-log entry"), reasons[2])
        self.assertTrue(reasons[3].startswith(f"{topic}[0]@4: not a change-log entry"), reasons[3])
        self.assertEqual(rejected[4][0]["value"], b"\xff\xfe")
        self.assertEqual(len(rejected), 5)


if __name__ == "__main__":
    unittest.main()
