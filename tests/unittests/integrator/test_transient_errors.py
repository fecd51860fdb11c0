"""Which driver errors the stores call transient (docs/adr/0029): the SQL drivers' and Kafka's."""

import sqlite3
import tempfile
import unittest
from pathlib import Path

import psycopg
import pymysql
import sqlalchemy as sa
from confluent_kafka import KafkaError, KafkaException

from pdip.integrator.adapters.kafka.topics import KafkaSource, KafkaTarget
from pdip.integrator.adapters.sql.changes import OutboxSource, SqlApplyTarget
from pdip.integrator.adapters.sql.rows import SqlSource, SqlTarget
from pdip.integrator.adapters.sql.transient import passes
from pdip.integrator.errors import KafkaAssignmentError
from pdip.messaging.errors import KafkaDeliveryError
from pdip.messaging.kafka import KafkaSender, KafkaSettings


class SqlTransientTest(unittest.TestCase):
    def test_postgresql_deadlocks_serialization_failures_and_lost_connections_pass(self):
        for error in (
            psycopg.errors.DeadlockDetected("deadlock detected"),
            psycopg.errors.SerializationFailure("could not serialize access"),
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            psycopg.errors.ConnectionFailure("connection failure"),
            psycopg.errors.TooManyConnections("too many clients"),
            psycopg.OperationalError("server closed the connection unexpectedly"),  # no SQLSTATE
        ):
            with self.subTest(error=type(error).__name__):
                self.assertTrue(passes(error))
                self.assertTrue(passes(sa.exc.OperationalError("COPY", {}, error)))  # as SQLAlchemy wraps it

    def test_postgresql_constraints_and_bad_values_do_not(self):
        for error in (
            psycopg.errors.UniqueViolation("duplicate key"),
            psycopg.errors.CheckViolation("violates check constraint"),
            psycopg.errors.InvalidTextRepresentation("invalid input syntax for type integer"),
            psycopg.errors.UndefinedTable("relation does not exist"),
            psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
            psycopg.ProgrammingError("not a server error"),
        ):
            with self.subTest(error=type(error).__name__):
                self.assertFalse(passes(error))

    def test_mysql_deadlocks_lock_waits_and_lost_connections_pass_by_their_codes(self):
        for code in (1213, 1205, 2006, 2013, 2003, 1927):
            self.assertTrue(passes(pymysql.err.OperationalError(code, "lost")), code)
        self.assertFalse(passes(pymysql.err.IntegrityError(1062, "Duplicate entry")))
        self.assertFalse(passes(pymysql.err.DataError(1406, "Data too long")))
        self.assertFalse(passes(pymysql.err.InterfaceError()))

    def test_a_busy_sqlite_database_passes(self):
        path = Path(tempfile.mkdtemp(prefix="pdip-busy-")) / "busy.db"
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("CREATE TABLE t (id integer)")
        holder.execute("BEGIN EXCLUSIVE")
        other = sqlite3.connect(path, timeout=0)
        try:
            with self.assertRaises(sqlite3.OperationalError) as raised:
                other.execute("INSERT INTO t VALUES (1)")
        finally:
            other.close()
            holder.rollback()
            holder.close()
        self.assertTrue(passes(raised.exception))
        self.assertFalse(passes(sqlite3.OperationalError("no such table: t")))

    def test_an_invalidated_connection_or_a_pool_time_out_passes(self):
        self.assertTrue(passes(sa.exc.OperationalError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)))
        self.assertTrue(passes(sa.exc.TimeoutError("QueuePool limit reached")))
        self.assertFalse(passes(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))))
        self.assertFalse(passes(ValueError("not a database error")))

    def test_every_sql_source_and_target_answers_with_it(self):
        error = psycopg.errors.DeadlockDetected("deadlock detected")
        for store in (SqlSource, SqlTarget, OutboxSource, SqlApplyTarget):
            self.assertTrue(store.transient(error), store.__name__)
            self.assertFalse(store.transient(ValueError("bad")), store.__name__)


class KafkaTransientTest(unittest.TestCase):
    def test_an_unreachable_broker_passes_and_a_refused_message_does_not(self):
        for store in (KafkaSource, KafkaTarget):
            self.assertTrue(store.transient(KafkaException(KafkaError(KafkaError._TRANSPORT))))
            self.assertTrue(store.transient(KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN))))
            self.assertTrue(store.transient(KafkaAssignmentError("no partition assigned")))
            self.assertTrue(store.transient(KafkaDeliveryError("not confirmed in time", transient=True)))
            self.assertFalse(store.transient(KafkaDeliveryError("1 message was not delivered: too large")))
            self.assertFalse(store.transient(KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))))
            self.assertFalse(store.transient(KafkaException(KafkaError(KafkaError._TRANSPORT, fatal=True))))
            self.assertFalse(store.transient(KafkaException("no error object")))

    def test_the_sender_says_whether_its_failed_deliveries_may_pass(self):
        class Producer:
            def flush(self, timeout):
                return 0

        class Message:
            def topic(self):
                return "orders"

        sender = KafkaSender(KafkaSettings.__new__(KafkaSettings))
        sender.settings = type("Settings", (), {"delivery_timeout": 1})()
        sender._producer = Producer()
        sender._delivered(KafkaError(KafkaError._MSG_TIMED_OUT), Message())
        with self.assertRaises(KafkaDeliveryError) as raised:
            sender.confirm()
        self.assertTrue(raised.exception.transient)
        sender._delivered(KafkaError(KafkaError._MSG_TIMED_OUT), Message())
        sender._delivered(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Message())
        with self.assertRaises(KafkaDeliveryError) as raised:
            sender.confirm()
        self.assertFalse(raised.exception.transient)
        self.assertIn("2 messages were not delivered", str(raised.exception))
