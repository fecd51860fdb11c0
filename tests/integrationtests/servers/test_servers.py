"""The servers pdip's integration tests rely on, proven end to end with the libraries pdip uses,
and the helpers that find or start them."""

from __future__ import annotations

import decimal
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

from tests.support import kafka_broker, servers
from tests.support.kafka_broker import (
    KafkaBroker,
    KafkaBrokerError,
    broker_answers,
    ensure_kafka,
    process_alive,
)

ROOT = Path(__file__).resolve().parents[3]
ADDRESS = re.compile(r"^127\.0\.0\.1:(\d{1,5})$")
ROWS = [
    {"id": 1, "name": "Ada", "amount": decimal.Decimal("10.50")},
    {"id": 2, "name": "Zoë", "amount": decimal.Decimal("-3.25")},
    {"id": 3, "name": "名前", "amount": decimal.Decimal("0.00")},
]


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class SqlRoundTrip:
    """Create a uniquely named table, write rows, read them back, drop it."""

    dialect: str
    driver: str
    engine: sa.Engine

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.dispose()

    def test_engine_uses_the_expected_driver(self: unittest.TestCase) -> None:
        self.assertEqual((self.engine.dialect.name, self.engine.dialect.driver), (self.dialect, self.driver))

    def test_table_round_trip_and_cleanup(self: unittest.TestCase) -> None:
        table = sa.Table(
            unique_name("pdip_probe"),
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("name", sa.String(50), nullable=False),
            sa.Column("amount", sa.Numeric(10, 2), nullable=False),
        )
        table.create(self.engine)
        self.addCleanup(table.drop, self.engine, checkfirst=True)
        self.assertTrue(sa.inspect(self.engine).has_table(table.name))

        with self.engine.begin() as connection:
            connection.execute(table.insert(), ROWS)
        with self.engine.connect() as connection:
            rows = [row._asdict() for row in connection.execute(sa.select(table).order_by(table.c.id))]

        self.assertEqual(rows, ROWS)
        table.drop(self.engine)
        self.assertFalse(sa.inspect(self.engine).has_table(table.name))


class PostgresTest(SqlRoundTrip, unittest.TestCase):
    dialect, driver = "postgresql", "psycopg"

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = sa.create_engine(servers.postgres_url())


class MariaDbTest(SqlRoundTrip, unittest.TestCase):
    dialect, driver = "mysql", "pymysql"

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = sa.create_engine(servers.mysql_url())


class KafkaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.bootstrap = servers.kafka_bootstrap()

    def test_produce_and_consume_keyed_messages_with_a_consumer_group(self) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        topic = unique_name("pdip_probe")
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)
        self.addCleanup(lambda: admin.delete_topics([topic])[topic].result(10))

        sent = [(f"key-{n}".encode(), f"value-{n}".encode()) for n in range(3)]
        delivery_errors = []
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for key, value in sent:
            producer.produce(topic, key=key, value=value, on_delivery=lambda error, _: delivery_errors.append(error))
        self.assertEqual(producer.flush(10), 0)
        self.assertEqual(delivery_errors, [None, None, None])

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": unique_name("pdip_probe_group"),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # tansu holds a join for the whole session timeout, so keep it short.
                "session.timeout.ms": 2000,
                "heartbeat.interval.ms": 500,
            }
        )
        self.addCleanup(consumer.close)
        consumer.subscribe([topic])
        received = []
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            self.assertIsNone(message.error())
            received.append((message.key(), message.value()))

        self.assertEqual(received, sent)
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        self.assertEqual(committed[0].offset, 3)


class KafkaBrokerTest(unittest.TestCase):
    def test_start_gives_a_loopback_address_that_answers_and_stop_ends_the_process(self) -> None:
        broker = KafkaBroker().start()
        self.addCleanup(broker.stop)
        pid = broker.pid

        self.assertRegex(broker.bootstrap_servers, ADDRESS)
        self.assertTrue(broker_answers(broker.bootstrap_servers))
        broker.stop()

        self.assertFalse(process_alive(pid))
        with self.assertRaises(KafkaBrokerError):
            _ = broker.bootstrap_servers

    def test_context_manager_stops_the_broker(self) -> None:
        with KafkaBroker() as broker:
            pid = broker.pid
            self.assertTrue(process_alive(pid))
        self.assertFalse(process_alive(pid))

    def test_a_taken_port_is_skipped_for_another_one(self) -> None:
        # tansu exits with status 0 when its port is taken; the helper must notice and move on.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken_port = taken.getsockname()[1]
            ports = iter([taken_port])
            real_free_port = kafka_broker.free_port
            with mock.patch.object(kafka_broker, "free_port", lambda: next(ports, None) or real_free_port()):
                broker = KafkaBroker().start()
            self.addCleanup(broker.stop)

            self.assertNotEqual(broker.bootstrap_servers, f"127.0.0.1:{taken_port}")
            self.assertTrue(broker_answers(broker.bootstrap_servers))

    def test_a_missing_binary_is_named_in_the_error(self) -> None:
        with self.assertRaisesRegex(KafkaBrokerError, "/nonexistent/tansu"):
            KafkaBroker(binary="/nonexistent/tansu").start()

    def test_ensure_kafka_prefers_the_configured_address(self) -> None:
        with mock.patch.dict(os.environ, {kafka_broker.ENV_BOOTSTRAP: "127.0.0.1:19999"}):
            self.assertEqual(ensure_kafka(), "127.0.0.1:19999")

    def test_ensure_kafka_starts_one_broker_per_process(self) -> None:
        with mock.patch.dict(os.environ, {kafka_broker.ENV_BOOTSTRAP: ""}):
            first, second = ensure_kafka(), ensure_kafka()
        self.assertEqual(first, second)
        self.assertRegex(first, ADDRESS)
        self.assertTrue(broker_answers(first))

    def test_command_line_starts_a_detached_broker_and_stops_it(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="pdip-kafka-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        pid_file, address_file = folder / "broker.pid", folder / "broker.address"
        command = [sys.executable, "-m", "tests.support.kafka_broker"]

        started = subprocess.run(
            [*command, "start", "--pid-file", str(pid_file), "--address-file", str(address_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.assertEqual(started.returncode, 0, started.stderr)
        pid, address = int(pid_file.read_text()), address_file.read_text().strip()
        self.addCleanup(kafka_broker.stop_pid, pid)
        self.assertRegex(address, ADDRESS)
        self.assertTrue(process_alive(pid))
        self.assertTrue(broker_answers(address))

        stopped = subprocess.run(
            [*command, "stop", "--pid-file", str(pid_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        self.assertFalse(process_alive(pid))
        self.assertFalse(pid_file.exists())


class ServerLookupTest(unittest.TestCase):
    UNREACHABLE = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"

    def test_a_missing_server_skips_outside_ci(self) -> None:
        unreachable = {"CI": "false", servers.ENV_POSTGRES: self.UNREACHABLE}
        with mock.patch.dict(os.environ, unreachable), self.assertRaises(unittest.SkipTest) as caught:
            servers.postgres_url()
        self.assertIn("PostgreSQL", str(caught.exception))
        self.assertIn(servers.ENV_POSTGRES, str(caught.exception))
        self.assertNotIn("secret", str(caught.exception))

    def test_a_missing_server_fails_under_ci(self) -> None:
        unreachable = {"CI": "TRUE", servers.ENV_MYSQL: "mysql+pymysql://root@127.0.0.1:1/test"}
        with mock.patch.dict(os.environ, unreachable), self.assertRaises(AssertionError) as caught:
            servers.mysql_url()
        self.assertIn("MariaDB", str(caught.exception))
        self.assertIn(servers.ENV_MYSQL, str(caught.exception))

    def test_defaults_apply_when_the_variables_are_unset(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop(servers.ENV_POSTGRES, None)
            os.environ.pop(servers.ENV_MYSQL, None)
            self.assertEqual(servers.postgres_url(), servers.DEFAULT_POSTGRES_URL)
            self.assertEqual(servers.mysql_url(), servers.DEFAULT_MYSQL_URL)


if __name__ == "__main__":
    unittest.main()
