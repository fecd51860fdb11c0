"""A Kafka connection's settings: checked with errors that name the key, and the client
configuration they make (no broker needed)."""

import datetime as dt
import unittest

from pdip.integrator import Connection
from pdip.integrator.adapters.kafka.settings import kafka_settings
from pdip.integrator.adapters.kafka.topics import (
    KafkaChangesTarget,
    KafkaSource,
    KafkaTarget,
    _offsets_of,
    _partition_name,
    _row_key,
)
from pdip.integrator.batch import Batch
from pdip.integrator.changes import entries_batch, message_key
from pdip.integrator.errors import OperationError
from pdip.tracking.entry import ChangeLogEntry


class KafkaSettingsTest(unittest.TestCase):
    def test_a_source_needs_servers_a_topic_and_a_group(self):
        with self.assertRaises(OperationError) as raised:
            kafka_settings({}, "kafka connection 'events'", "source")
        self.assertEqual(
            raised.exception.problems,
            [
                "kafka connection 'events': bootstrap_servers: required (host:port, or several separated by commas)",
                "kafka connection 'events': topic (or topics: a list): required, the name of the topic to read",
                "kafka connection 'events': group: required for a source (the consumer group whose offsets record progress)",
            ],
        )

    def test_each_bad_value_is_named(self):
        settings = {
            "bootstrap_servers": ["a:1", "b:2"],
            "topic": "t",
            "topics": ["x"],
            "start": "yesterday",
            "until": "forever",
            "compression": "brotli",
            "key": 5,
            "partitions": 0,
            "poll_timeout": "soon",
            "delivery_timeout": True,
            "options": ["x"],
        }
        with self.assertRaises(OperationError) as raised:
            kafka_settings(settings, "kafka connection", "target")
        problems = [problem.split(": ", 1)[1] for problem in raised.exception.problems]
        self.assertEqual(
            problems,
            [
                "topics: a target writes one `topic`",
                "start: expected one of committed, earliest, latest, got 'yesterday'",
                "until: expected end (stop at the end; `pdip run --follow` keeps reading), got 'forever'",
                "compression: expected one of none, gzip, lz4, zstd, snappy, got 'brotli'",
                "key: expected a column name or a list of them, got 5",
                "partitions: expected a positive number, got 0",
                "poll_timeout: expected a positive number, got 'soon'",
                "delivery_timeout: expected a positive number, got True",
                "options: expected a mapping of client option names (librdkafka's) to values",
            ],
        )

    def test_an_unknown_setting_is_refused_with_a_suggestion(self):
        with self.assertRaisesRegex(
            OperationError, "kafka connection: grup: unknown setting for kafka .*; did you mean group\\?"
        ):
            kafka_settings({"grup": "g"}, "kafka connection", "source")

    def test_client_options_come_from_security_settings_and_options(self):
        settings = kafka_settings(
            {
                "bootstrap_servers": "b:9092",
                "topics": ["a", "b"],
                "group": "g",
                "start": "latest",
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "user",
                "sasl_password": "s3cret",
                "options": {"session.timeout.ms": 6000},
            },
            "kafka connection",
            "source",
        )
        self.assertEqual(settings.topics, ("a", "b"))
        consumer = settings.consumer_config(partition_eof=True)
        self.assertEqual(
            {
                key: consumer[key]
                for key in ("group.id", "auto.offset.reset", "enable.auto.commit", "enable.partition.eof")
            },
            {"group.id": "g", "auto.offset.reset": "latest", "enable.auto.commit": False, "enable.partition.eof": True},
        )
        self.assertEqual((consumer["sasl.password"], consumer["security.protocol"]), ("s3cret", "SASL_SSL"))
        self.assertEqual(consumer["session.timeout.ms"], 6000)
        producer = kafka_settings(
            {"bootstrap_servers": "b:1", "topic": "t", "compression": "ZSTD", "key": "id"}, "k", "target"
        )
        self.assertEqual(producer.key, ("id",))
        config = producer.producer_config()
        self.assertEqual(
            (config["enable.idempotence"], config["acks"], config["compression.type"]), (True, "all", "zstd")
        )

    def test_describe_and_repr_show_no_secret(self):
        connection = Connection(
            "kafka", {"bootstrap_servers": "b:1", "topic": "t", "group": "g", "sasl_password": "s3cret"}, name="events"
        )
        self.assertEqual(KafkaSource(connection, None).describe(), "kafka:t (group g)")
        self.assertEqual(KafkaTarget(connection, None).describe(), "kafka:t")
        self.assertNotIn("s3cret", repr(connection))

    def test_a_target_writes_each_row_as_compact_json_keyed_by_its_key_and_refuses_what_json_cannot_hold(self):
        target = KafkaTarget(Connection("kafka", {"bootstrap_servers": "b:1", "topic": "t", "key": ["id"]}), None)
        thing = object()
        batch = Batch(["id", "at", "amount"], [(1, dt.date(2026, 1, 2), 0.5), (2, thing, float("nan"))])
        rejected: list = []
        messages = list(target._messages(batch, rejected))  # made as the producer takes them
        self.assertEqual(messages, [(b"1", b'{"id":1,"at":"2026-01-02","amount":0.5}')])
        self.assertEqual(rejected, [((2, thing, batch.rows[1][2]), rejected[0][1])])
        self.assertRegex(rejected[0][1], "cannot write the row as JSON: Object of type object is not JSON serializable")

    def test_a_change_log_target_produces_each_entry_as_it_is_written_and_refuses_what_json_cannot_hold(self):
        settings = {"bootstrap_servers": "b:1", "topic": "t", "tombstones": True}
        target = KafkaChangesTarget(Connection("kafka", settings), None)
        produced: list = []

        class Sender:  # takes the messages one at a time, as the producer does
            def send(self, topic, messages):
                for key, value in messages:
                    produced.append((topic, key, value))
                return len(produced)

        target.sender = Sender()
        inserted = ChangeLogEntry("insert", entity="items", key=1, after={"id": 1, "note": "a"}, timestamp=1.5)
        odd = ChangeLogEntry("update", entity="items", key=2, after={"id": 2, "what": object()}, timestamp=1.5)
        deleted = ChangeLogEntry("delete", entity="items", key=3, before={"id": 3}, timestamp=1.5)
        result = target.write(entries_batch([inserted, odd, deleted]))
        self.assertEqual(
            produced,
            [
                ("t", message_key(inserted), inserted.to_json().encode()),
                ("t", message_key(deleted), deleted.to_json().encode()),
                ("t", message_key(deleted), None),  # the tombstone after a delete
            ],
        )
        self.assertEqual(result.written, 2)  # entries, not the tombstone sent with one
        self.assertEqual(len(result.rejected), 1)
        self.assertIs(result.rejected[0][0][0], odd)  # the batch's own row: dead-lettered where it was read
        self.assertRegex(
            result.rejected[0][1], "cannot write the entry as JSON: object values cannot be written to a change log"
        )

    def test_helpers_for_keys_positions_and_partition_names(self):
        self.assertEqual(_row_key([]), None)
        self.assertEqual(_row_key(["a"]), b"a")
        self.assertEqual(_row_key([5]), b"5")
        self.assertEqual(_row_key([1, "x"]), b'[1,"x"]')
        self.assertEqual(_offsets_of({"t": {"0": 5, "1": 7}, "bad": 3}), {("t", 0): 5, ("t", 1): 7})
        self.assertEqual(_offsets_of(12), {})
        self.assertEqual(_partition_name([("a", 0), ("a", 2), ("b", 1)]), "a:0,2;b:1")


if __name__ == "__main__":
    unittest.main()
