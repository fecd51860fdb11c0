"""The adapter contract run against Kafka topics (`pdip.integrator.adapters.kafka`), on a real
broker (tansu, or PDIP_TEST_KAFKA_BOOTSTRAP): rows go out as JSON objects and come back as JSON
values, so decimals, dates and datetimes come back as their text."""

import unittest
import uuid
from typing import Any

from pdip.integrator import Connection
from tests.integrationtests.contract.contract import AdapterContract, Refusal, decimal_text, iso_text
from tests.integrationtests.kafka.support import FAST_GROUP
from tests.support import servers


class KafkaContract(AdapterContract, unittest.TestCase):
    kind = "kafka"
    executor = "process"
    returned = {"amount": decimal_text, "day": iso_text, "at": iso_text}
    truncates = False  # a topic cannot be emptied
    knows_empty_columns = False  # messages carry the columns; a topic without any names none
    misspelt = ("topik", "topic")

    @classmethod
    def setUpClass(cls):
        cls.bootstrap = servers.kafka_bootstrap()

    def unique(self, role: str) -> str:
        return f"pdip-contract-{role}-{uuid.uuid4().hex[:8]}"

    def store(self, name: str) -> Connection:
        return Connection("kafka", {"bootstrap_servers": self.bootstrap, "topic": name})

    def source_of(self, name: str, group: str | None = None) -> Connection:
        """The topic `name`, read by the consumer group `name` (whose offsets a resumed run goes on from)."""
        settings = {"group": group or name, "poll_timeout": 0.3, "options": FAST_GROUP}
        return Connection("kafka", {**self.store(name).settings, **settings})

    def read_back(self, name: str) -> list[dict[str, Any]]:
        """Every message of the topic, from the earliest offset, read by a group of its own with
        its partitions assigned (`parallelism` splits the read; no group join to wait for)."""
        reader = self.source_of(name, group=f"{name}-{uuid.uuid4().hex[:6]}")
        back = f"back-{uuid.uuid4().hex[:8]}"
        earliest = Connection("kafka", {**reader.settings, "start": "earliest"})
        self.run_ok(earliest, Connection("memory", {"store": back}), parallelism=2)
        return self.integrator.stores.records(back)

    def check_resumed(self, source: str) -> None:
        """The group committed its offsets up to the end: another operation of the group reads nothing."""
        again = self.run_ok(self.source_of(source), Connection("memory", {"store": "again"}), name="again")
        self.assertEqual(again.integrations[0].rows_read, 0)

    def columns_of(self, name: str) -> list[str] | None:
        return None

    def refusal(self) -> Refusal:
        from confluent_kafka import Producer

        topic = self.unique("refusing")
        self.fill(topic, [], ("id",))  # the topic, created by the target
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for value in (b'{"id": 1}', b"not json", b'{"id": 3}', b"[4]", b'{"id": 5}'):
            producer.produce(topic, value)
        self.assertEqual(producer.flush(30), 0)
        landed = lambda: self.integrator.stores.records("landed")  # noqa: E731
        return Refusal(self.source_of(topic), Connection("memory", {"store": "landed"}), 2, [1, 3, 5], landed)

    def with_secret(self, secret: str) -> Connection:
        missing = self.unique("missing")
        return Connection("kafka", {**self.source_of(missing).settings, "sasl_password": secret})


if __name__ == "__main__":
    unittest.main()
