"""Change logs end to end through `Integrator.integrate`: outbox -> Kafka -> PostgreSQL replica
and a JSON Lines audit file, with the field policy applied on the way, exactly-once effect at
the replica, and bad messages dead-lettered."""

import json
import shutil
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa
from confluent_kafka import Producer

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.sql import positions
from pdip.integrator.base import Integrator
from pdip.tracking import ChangeLogEntry, SqlExporter, read_json_lines
from tests.integrationtests.kafka.support import FAST_GROUP, create_topic, raw_messages
from tests.support import servers


def account(key, **values):
    return {"id": key, "name": f"account {key}", "api_token": f"tok-{key}", "balance": key * 10, **values}


class ChangeStreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = servers.kafka_bootstrap()
        cls.url = servers.postgres_url()
        cls.engine = sa.create_engine(cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()

    def setUp(self):
        suffix = uuid.uuid4().hex[:8]
        self.root = Path(tempfile.mkdtemp(prefix="pdip-changes-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        self.outbox, self.replica, self.topic = (
            f"pdip_it_outbox_{suffix}",
            f"pdip_it_replica_{suffix}",
            f"pdip-it-stream-{suffix}",
        )
        metadata = sa.MetaData()
        self.table = sa.Table(
            self.replica,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("name", sa.String(100)),
            sa.Column("api_token", sa.String(100)),
            sa.Column("balance", sa.Integer),
        )
        metadata.create_all(self.engine)
        self.exporter = SqlExporter(self.engine, table=self.outbox, create_table=True, batch_size=10_000)
        self.addCleanup(self.drop)
        self.pdi = Pdi(root_directory=str(self.root))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)

    def drop(self):
        self.exporter.close()
        with self.engine.begin() as connection:
            for name in (self.outbox, self.replica):
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
            if sa.inspect(connection).has_table(positions.POSITIONS.name):
                connection.execute(
                    positions.POSITIONS.delete().where(positions.POSITIONS.c.slot.like(f"%{self.topic}%"))
                )

    def record(self, *entries):
        for entry in entries:
            self.exporter(entry)
        self.exporter.flush()

    def kafka(self, **settings):
        return Connection(
            "kafka", {"bootstrap_servers": self.bootstrap, "topic": self.topic, "poll_timeout": 0.3, **settings}
        )

    def operations(self, executor="inline", parallelism=1):
        relay = Operation(
            f"relay-{self.topic}",
            [
                Integration(
                    "outbox-to-kafka",
                    source=Connection("sql", {"url": self.url, "table": self.outbox}),
                    target=self.kafka(partitions=3),
                    mode="changes",
                    create_target=True,
                    batch_size=50,
                )
            ],
            executor=executor,
        )
        group = {"group": f"replica-{self.topic}", "options": FAST_GROUP}
        apply = Operation(
            f"apply-{self.topic}",
            [
                Integration(
                    "kafka-to-replica",
                    source=self.kafka(**group),
                    target=Connection("sql", {"url": self.url, "table": self.replica}),
                    mode="changes",
                    batch_size=40,
                    parallelism=parallelism,
                ),
                Integration(
                    "kafka-to-audit",
                    source=self.kafka(group=f"audit-{self.topic}", options=FAST_GROUP),
                    target=Connection("jsonl", {"path": "audit/changes.jsonl"}),
                    mode="changes",
                ),
            ],
            executor=executor,
        )
        return relay, apply

    def replica_rows(self):
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.select(self.table).order_by(self.table.c.id)).mappings()]

    def history(self):
        """Inserts of 1..120, updates of every third, deletes of every tenth."""
        entries = [ChangeLogEntry("insert", entity="accounts", key=i, after=account(i)) for i in range(1, 121)]
        entries += [ChangeLogEntry("update", entity="accounts", key=i, after={"balance": -i}) for i in range(3, 121, 3)]
        entries += [ChangeLogEntry("delete", entity="accounts", key=i) for i in range(10, 121, 10)]
        return entries

    @staticmethod
    def expected(upto=120):
        rows = {}
        for i in range(1, upto + 1):
            rows[i] = {**account(i, api_token="<redacted>"), "balance": -i if i % 3 == 0 else i * 10}
        return [row for key, row in sorted(rows.items()) if key % 10]

    def run_both(self, executor="inline", parallelism=1):
        relay, apply = self.operations(executor, parallelism)
        first = self.integrator.integrate(relay)
        self.assertTrue(first.ok, [result.error for result in first.integrations])
        second = self.integrator.integrate(apply)
        self.assertTrue(second.ok, [result.error for result in second.integrations])
        return first, second

    def test_outbox_to_kafka_to_postgres_and_a_file_with_the_secret_redacted(self):
        self.record(*self.history())
        relayed, applied = self.run_both()
        self.assertEqual(relayed["outbox-to-kafka"].rows_written, 172)
        self.assertEqual(applied["kafka-to-replica"].rows_written, 172)
        self.assertEqual(self.replica_rows(), self.expected())
        messages = raw_messages(self.bootstrap, self.topic)
        self.assertEqual(len(messages), 172)
        self.assertFalse(any(b"tok-" in value for _, _, value in messages), "no secret reached Kafka")
        audit = list(read_json_lines(self.root / "audit/changes.jsonl"))
        self.assertEqual(len(audit), 172)
        self.assertFalse(any("tok-" in entry.to_json() for entry in audit), "no secret reached the file")
        stored = positions.load_position(self.engine, f"apply-{self.topic}/kafka-to-replica")
        self.assertEqual(sum(stored[self.topic].values()), 172, "the replica knows how far it applied")

        # The next runs move only what is new: the outbox by its sequence, the topic by the
        # offsets the replica stored and the group committed.
        self.record(ChangeLogEntry("update", entity="accounts", key=1, after={"name": "renamed"}))
        relayed, applied = self.run_both()
        self.assertEqual(relayed["outbox-to-kafka"].rows_read, 1)
        self.assertEqual((applied["kafka-to-replica"].rows_read, applied["kafka-to-audit"].rows_read), (1, 1))
        self.assertEqual(self.replica_rows()[0]["name"], "renamed")

    def test_the_process_executor_reads_partitions_in_parallel_readers(self):
        self.record(*self.history())
        _, applied = self.run_both(executor="process", parallelism=3)
        self.assertEqual(applied["kafka-to-replica"].rows_written, 172)
        self.assertEqual(self.replica_rows(), self.expected())
        slots = positions.load_position(self.engine, f"apply-{self.topic}/kafka-to-replica/{self.topic}:0")
        self.assertEqual(list(slots[self.topic]), ["0"], "each reader's offsets under its own slot")

    def test_bad_messages_and_future_entries_are_dead_lettered_and_the_run_completes(self):
        create_topic(self.bootstrap, self.topic)
        producer = Producer({"bootstrap.servers": self.bootstrap})
        good = ChangeLogEntry("insert", entity="accounts", key=1, after=account(1))
        future = {**ChangeLogEntry("insert", entity="accounts", key=2, after=account(2)).to_dict(), "schema_version": 2}
        unknown = ChangeLogEntry("insert", entity="accounts", key=3, after={"id": 3, "colour": "red"})
        for value in (good.to_json(), "this is not json", json.dumps(future), unknown.to_json()):
            producer.produce(self.topic, value.encode())
        producer.flush(10)
        _, apply = self.operations()
        apply.integrations[0].max_errors = 5
        only_replica = Operation(apply.name, apply.integrations[:1], executor="inline")
        result = self.integrator.integrate(only_replica, execution_id=f"bad-{self.topic}")
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(
            (result["kafka-to-replica"].rows_written, result["kafka-to-replica"].rows_dead_lettered), (1, 3)
        )
        letters = self.pdi.get(StateStore).dead_letters(f"bad-{self.topic}")
        reasons = sorted(letter["reason"] for letter in letters)
        self.assertEqual(reasons[0], f"{self.topic}[0]@1: not valid JSON: Expecting value")
        self.assertEqual(
            reasons[1], f"{self.topic}[0]@2: change-log entry schema_version 2 is not supported (this pdip reads 1)"
        )
        self.assertEqual(reasons[2], f"unknown column 'colour' in table {self.replica!r}")
        self.assertEqual([row["id"] for row in self.replica_rows()], [1])


if __name__ == "__main__":
    unittest.main()
