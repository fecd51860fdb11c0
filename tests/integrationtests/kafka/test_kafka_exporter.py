"""Tracked containers exported to a Kafka topic, read back by the change-log source."""

import unittest

from pdip.integrator.adapters.kafka.topics import KafkaChangesSource, KafkaDeliveryError
from pdip.integrator.changes import batch_entries
from pdip.tracking import TrackedDict, observers_from_config
from pdip.tracking.kafka_exporter import KafkaExporter
from tests.integrationtests.kafka.support import Context, kafka, read_all, topic_name
from tests.support import servers


class KafkaExporterTest(unittest.TestCase):
    def test_a_tracked_container_s_changes_reach_the_topic_in_order(self):
        bootstrap = servers.kafka_bootstrap()
        topic = topic_name("exporter")
        settings = {"bootstrap_servers": bootstrap, "topic": topic, "options": {"queue.buffering.max.messages": 1}}
        with KafkaExporter(settings, batch_size=2) as exporter:
            cart = TrackedDict({}, name="cart", observers=[exporter])
            cart["a"] = 1
            cart["b"] = 2
            cart["a"] = 3
            self.assertEqual((exporter.written, exporter.pending), (2, 1))
            self.assertEqual(repr(exporter), f"KafkaExporter({topic!r}, pending=1)")
        self.assertEqual(exporter.written, 3)
        source = KafkaChangesSource(kafka(bootstrap, topic, group=topic), Context())
        try:
            entries = [entry for batch in read_all(source) for entry in batch_entries(batch)]
        finally:
            source.close()
        self.assertEqual([entry.after for entry in entries if entry.key == "a"], [1, 3], "in order per key")
        self.assertEqual(sorted(entries, key=lambda entry: entry.sequence), cart.tracking_changes())

    def test_a_kafka_exporter_from_configuration_reaches_the_topic(self):
        bootstrap = servers.kafka_bootstrap()
        topic = topic_name("configured")
        (exporter,) = observers_from_config(
            [{"type": "kafka", "bootstrap_servers": bootstrap, "topic": topic, "batch_size": 10}]
        )
        cart = TrackedDict({}, name="cart", observers=[exporter])
        cart["a"] = 1
        cart["b"] = object()  # refused, logged: the next entries still go
        cart["c"] = 3
        exporter.close()
        self.assertEqual((exporter.written, exporter.refused), (2, 1))
        source = KafkaChangesSource(kafka(bootstrap, topic, group=topic), Context())
        try:
            entries = [entry for batch in read_all(source) for entry in batch_entries(batch)]
        finally:
            source.close()
        entries.sort(key=lambda entry: entry.sequence)  # keys spread over partitions
        self.assertEqual([(entry.key, entry.after) for entry in entries], [("a", 1), ("c", 3)])

    def test_entries_stay_pending_when_the_broker_does_not_confirm(self):
        exporter = KafkaExporter(
            {"bootstrap_servers": "127.0.0.1:1", "topic": "t", "delivery_timeout": 0.5}, batch_size=10
        )
        cart = TrackedDict({}, name="cart", observers=[exporter])
        cart["a"] = 1
        with self.assertRaisesRegex(
            KafkaDeliveryError, "1 change-log entries were not delivered: t: Local: Message timed out"
        ):
            exporter.flush()
        self.assertEqual(exporter.pending, 1)


if __name__ == "__main__":
    unittest.main()
