"""Dead letters of rows and change-log entries read from Kafka: each is stored at its own message
(topic, partition, offset), not at the batch's position, whether the source could not read it or
the target refused it, and across the pipe from a reader process."""

import pickle
import sqlite3
import tempfile
import unittest
from pathlib import Path

from confluent_kafka import Producer

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.kafka.topics import KafkaSource
from pdip.integrator.base import Integrator
from pdip.tracking import ChangeLogEntry
from tests.integrationtests.kafka.support import FAST_GROUP, Context, create_topic, read_all, topic_name
from tests.support import servers


class KafkaDeadLettersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = servers.kafka_bootstrap()

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-kafka-letters-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=str(self.root))
        self.addCleanup(self.pdi.cleanup)

    def produce(self, topic: str, messages: list[tuple[int, str]]) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for partition, value in messages:
            producer.produce(topic, value.encode(), partition=partition)
        self.assertEqual(producer.flush(10), 0)

    def source(self, topic: str) -> Connection:
        settings = {"topic": topic, "group": topic, "poll_timeout": 0.3, "options": FAST_GROUP}
        return Connection("kafka", {"bootstrap_servers": self.bootstrap, **settings})

    def letters(self, integration: Integration, executor: str, execution_id: str) -> list[dict]:
        integration.max_errors = 10
        result = self.pdi.get(Integrator).integrate(
            Operation("letters", [integration], executor=executor), execution_id
        )
        self.assertTrue(result.ok, result.integrations[0].error)
        return self.pdi.get(StateStore).dead_letters(execution_id)

    def test_rows_refused_by_the_target_or_the_source_are_stored_at_their_own_message(self):
        topic = create_topic(self.bootstrap, topic_name("letters-rows"), partitions=2)
        self.produce(
            topic,
            [
                (0, '{"id": 1, "name": "ada"}'),
                (0, '{"id": 2, "name": null}'),
                (0, "not json"),
                (1, '{"id": 3, "name": "cy"}'),
                (1, '{"id": 4, "name": "dee"}'),
                (1, '{"id": 5, "name": null}'),
            ],
        )
        with sqlite3.connect(self.root / "out.db") as connection:
            connection.execute("CREATE TABLE people (id INTEGER, name TEXT NOT NULL)")
        target = Connection("sqlite", {"database": "out.db", "table": "people"})
        integration = Integration("people", source=self.source(topic), target=target, batch_size=100)
        letters = self.letters(integration, "process", "kafka-rows-letters")  # batches cross a pipe
        stored = sorted((letter["position"]["partition"], letter["position"]["offset"]) for letter in letters)
        self.assertEqual(stored, [(0, 1), (0, 2), (1, 2)])
        self.assertEqual({letter["position"]["topic"] for letter in letters}, {topic})
        by_place = {(letter["position"]["partition"], letter["position"]["offset"]): letter for letter in letters}
        self.assertEqual(by_place[(0, 1)]["row"], {"id": 2, "name": None})
        self.assertEqual(by_place[(1, 2)]["row"], {"id": 5, "name": None})
        self.assertTrue(by_place[(0, 2)]["reason"].startswith(f"{topic}[0]@2: not valid JSON"))

    def test_entries_refused_by_the_target_or_the_source_are_stored_at_their_own_message(self):
        topic = create_topic(self.bootstrap, topic_name("letters-changes"))
        insert = ChangeLogEntry("insert", entity="accounts", key=1, after={"id": 1, "name": "ada"})
        stray = ChangeLogEntry("update", entity="accounts", key=9, after={"name": "nobody"})
        later = ChangeLogEntry("update", entity="accounts", key=1, after={"name": "bea"})
        self.produce(topic, [(0, insert.to_json()), (0, "{broken"), (0, stray.to_json()), (0, later.to_json())])
        self.pdi.get(Integrator).stores["replica"] = []
        target = Connection("memory", {"store": "replica", "key": ["id"]})
        integration = Integration("replica", source=self.source(topic), target=target, mode="changes")
        letters = self.letters(integration, "inline", "kafka-changes-letters")
        positions = sorted(
            (letter["position"]["offset"], letter["position"]["partition"], letter["position"]["topic"])
            for letter in letters
        )
        self.assertEqual(positions, [(1, 0, topic), (2, 0, topic)])
        by_offset = {letter["position"]["offset"]: letter for letter in letters}
        self.assertTrue(by_offset[1]["reason"].startswith(f"{topic}[0]@1: not valid JSON"), by_offset[1]["reason"])
        self.assertEqual(by_offset[2]["row"]["entry"]["key"], 9)
        self.assertEqual(self.pdi.get(Integrator).stores["replica"], [{"id": 1, "name": "bea"}])

    def test_rows_read_from_several_topics_know_their_topic_also_across_a_pipe(self):
        first = create_topic(self.bootstrap, topic_name("letters-first"))
        second = create_topic(self.bootstrap, topic_name("letters-second"))
        self.produce(first, [(0, '{"id": 1}'), (0, '{"id": 2}')])
        self.produce(second, [(0, '{"id": 3}')])
        connection = Connection(
            "kafka",
            {
                "bootstrap_servers": self.bootstrap,
                "topics": [first, second],
                "group": first,
                "poll_timeout": 0.3,
                "options": FAST_GROUP,
            },
        )
        source = KafkaSource(connection, Context())
        try:
            batches = [pickle.loads(pickle.dumps(batch)) for batch in read_all(source)]
        finally:
            source.close()
        places = {row[0]: batch.origin(index) for batch in batches for index, row in enumerate(batch.rows)}
        self.assertEqual(
            places,
            {
                1: {"topic": first, "partition": 0, "offset": 0},
                2: {"topic": first, "partition": 0, "offset": 1},
                3: {"topic": second, "partition": 0, "offset": 0},
            },
        )


if __name__ == "__main__":
    unittest.main()
