"""How a Kafka source turns what `consume` returns into batches: positions per partition, ends
of partitions, errors and refused messages (a consumer stand-in; no broker needed)."""

import unittest

from confluent_kafka import KafkaError, KafkaException, Message

from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.kafka.topics import KafkaChangesSource
from pdip.integrator.changes import batch_entries
from pdip.tracking import ChangeLogEntry

SETTINGS = {"bootstrap_servers": "127.0.0.1:1", "topic": "t", "group": "g"}


class Context:
    stores: dict = {}
    execution_id = "test"
    root = None


class Consumer:
    """Gives each list of `deliveries` to one `consume` call, then nothing."""

    def __init__(self, deliveries):
        self.deliveries = list(deliveries)

    def consume(self, num_messages, timeout):
        return self.deliveries.pop(0) if self.deliveries else []


def message(partition, offset, key, value=None):
    if value is None:
        value = ChangeLogEntry("update", entity="t", key=key, after={"n": offset}).to_json().encode()
    return Message(topic="t", partition=partition, offset=offset, value=value)


def end(partition, offset):
    return Message(topic="t", partition=partition, offset=offset, error=KafkaError(KafkaError._PARTITION_EOF))


def read(deliveries, batch_size=100):
    source = KafkaChangesSource(Connection("kafka", SETTINGS), Context())
    source._joined, source._assigned = True, {("t", 0), ("t", 1)}
    return list(source._batches(Consumer(deliveries), ReadRequest(batch_size=batch_size)))


class KafkaReadingTest(unittest.TestCase):
    def test_a_partition_stands_at_its_last_message_whatever_the_order_of_partitions(self):
        batches = read([[message(0, 5, "a"), message(1, 7, "b"), message(0, 6, "c")], [end(0, 7), end(1, 8)]])
        self.assertEqual(len(batches), 1)
        self.assertEqual([entry.key for entry in batch_entries(batches[0])], ["a", "b", "c"])
        self.assertEqual(batches[0].position, {"t": {"0": 7, "1": 8}})

    def test_a_partition_that_ended_and_got_more_messages_is_read_to_its_new_end(self):
        batches = read(
            [[message(0, 0, "a"), end(1, 0)], [end(0, 1), message(0, 1, "b")], [end(0, 2)]],
            batch_size=1,
        )
        self.assertEqual([[entry.key for entry in batch_entries(batch)] for batch in batches], [["a"], ["b"]])
        self.assertEqual(batches[-1].position, {"t": {"0": 2}})

    def test_a_retriable_error_is_passed_over_and_a_fatal_one_stops_the_read(self):
        passing = Message(topic="t", partition=0, error=KafkaError(KafkaError._TRANSPORT, "down", retriable=True))
        batches = read([[passing, message(0, 0, "a")], [end(0, 1), end(1, 0)]])
        self.assertEqual([entry.key for entry in batch_entries(batches[0])], ["a"])
        fatal = Message(topic="t", partition=0, error=KafkaError(KafkaError._FATAL, "fenced", fatal=True))
        with self.assertRaises(KafkaException):
            read([[message(0, 0, "a"), fatal]])

    def test_tombstones_are_skipped_and_messages_that_hold_no_entry_are_refused_with_their_place(self):
        tombstone = Message(topic="t", partition=0, offset=1, value=None)
        batches = read([[message(0, 0, "a"), tombstone, message(0, 2, "c", b"{nope")], [end(0, 3), end(1, 0)]])
        self.assertEqual([entry.key for entry in batch_entries(batches[0])], ["a"])
        (held, reason), *others = batches[0].rejected
        self.assertEqual(others, [])
        self.assertEqual((held["partition"], held["offset"], held["value"]), (0, 2, "{nope"))
        self.assertRegex(reason, r"^t\[0\]@2: not valid JSON")
        self.assertEqual(batches[0].position, {"t": {"0": 3}})

    def test_each_entry_of_two_topics_is_placed_in_its_own_topic_whichever_comes_first(self):
        def on(topic, offset, key):
            value = ChangeLogEntry("update", entity="t", key=key, after={"n": offset}).to_json().encode()
            return Message(topic=topic, partition=0, offset=offset, value=value)

        source = KafkaChangesSource(Connection("kafka", {**SETTINGS, "topics": ["a", "b"]}), Context())
        source._joined, source._assigned = True, {("a", 0), ("b", 0)}
        ends = [
            Message(topic=topic, partition=0, offset=10, error=KafkaError(KafkaError._PARTITION_EOF)) for topic in "ab"
        ]
        deliveries = [[on("a", 4, "x")], [on("b", 9, "y"), on("a", 5, "z")], ends]
        batches = list(source._batches(Consumer(deliveries), ReadRequest(batch_size=3)))
        self.assertEqual(
            [batches[0].origin(index) for index in range(3)],
            [
                {"topic": "a", "partition": 0, "offset": 4},
                {"topic": "b", "partition": 0, "offset": 9},
                {"topic": "a", "partition": 0, "offset": 5},
            ],
        )
        pattern = KafkaChangesSource(Connection("kafka", {**SETTINGS, "topics": ["^orders-.*"]}), Context())
        self.assertIsNone(pattern._origins().topic)  # one subscription, maybe many topics
