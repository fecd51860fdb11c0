"""A relay that follows the outbox delivers a change as soon as it is committed, without
polling often when nothing happens: PostgreSQL wakes it by NOTIFY from the writer's transaction
(a trigger on the change-log table), other databases are polled quickly while changes come and
less often as they stop. `poll_interval` is long in these tests, so a prompt delivery proves
the wake-up, not the poll."""

import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip.data.wakeups import wakeup_for
from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.changes import OutboxSource
from pdip.integrator.changes import batch_entries
from pdip.tracking import ChangeLogEntry
from pdip.tracking.table import WAKE_FUNCTION_BODY, WAKE_TRIGGER, change_log_table, entry_to_row
from tests.integrationtests.kafka.support import Context
from tests.support import servers

PROMPT = 1.0  # seconds; the poll interval is 30


class OutboxWakeup:
    @classmethod
    def setUpClass(cls):
        cls.url = cls.database_url()
        cls.engine = sa.create_engine(cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()

    def setUp(self):
        self.table = change_log_table(sa.MetaData(), f"pdip_it_wake_{uuid.uuid4().hex[:8]}")
        self.table.create(self.engine)
        self.addCleanup(self.table.drop, self.engine)

    def write(self, key):
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), [entry_to_row(ChangeLogEntry("insert", entity="a", key=key))])

    def follow(self):
        source = OutboxSource(
            Connection("sql", {"url": self.url, "table": self.table.name, "poll_interval": 30}), Context()
        )
        self.addCleanup(source.close)
        stream = source.read(ReadRequest(10, follow=True))
        self.addCleanup(stream.close)
        return stream

    def delivered_after(self, stream, delay, key):
        """Seconds from the write of `key` (`delay` seconds from now) to its delivery."""
        committed = []
        timer = threading.Timer(delay, lambda: (committed.append(time.monotonic()), self.write(key)))
        timer.start()
        self.addCleanup(timer.cancel)
        keys = [entry.key for entry in batch_entries(next(stream))]
        arrived = time.monotonic()
        self.assertEqual(keys, [key])
        return arrived - committed[0]

    def test_a_change_committed_while_the_relay_waits_is_delivered_at_once(self):
        self.write("first")
        stream = self.follow()
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        self.assertLess(self.delivered_after(stream, 0.3, "second"), PROMPT)
        self.assertLess(self.delivered_after(stream, 0.05, "third"), PROMPT)


class SqliteWakeupTest(OutboxWakeup, unittest.TestCase):
    @classmethod
    def database_url(cls):
        cls.folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(cls.folder.name) / 'outbox.db'}"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.folder.cleanup()


class PostgresWakeupTest(OutboxWakeup, unittest.TestCase):
    database_url = staticmethod(servers.postgres_url)

    def triggers(self):
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal"),
                    {"table": self.table.name},
                )
                .scalars()
                .all()
            )

    def test_the_change_log_table_is_created_with_its_wake_trigger(self):
        self.assertEqual(self.triggers(), [WAKE_TRIGGER])

    def test_a_relay_gives_a_table_made_without_the_trigger_its_trigger(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TRIGGER {WAKE_TRIGGER} ON "{self.table.name}"')
        self.write("first")
        stream = self.follow()
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        self.assertEqual(self.triggers(), [WAKE_TRIGGER])
        self.assertLess(self.delivered_after(stream, 2.0, "second"), PROMPT)

    def test_a_relay_that_may_not_add_the_trigger_says_so_and_polls(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TRIGGER {WAKE_TRIGGER} ON "{self.table.name}"')
        self.grant_reader()
        url = sa.make_url(self.url).set(username="pdip_it_reader").render_as_string(hide_password=False)
        settings = {"url": url, "table": self.table.name, "poll_interval": 0.2}
        source = OutboxSource(Connection("sql", settings), Context())
        self.addCleanup(source.close)
        self.write("first")
        with self.assertLogs("pdip", "WARNING") as logs:
            stream = source.read(ReadRequest(10, follow=True))
            self.addCleanup(stream.close)
            self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        self.assertIn(f"no wake-up trigger on {self.table.name}", logs.output[0])
        self.assertIn("polled every 0.2 s", logs.output[0])
        self.assertEqual(self.triggers(), [])

    def trigger_body(self):
        with self.engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                    "WHERE t.tgrelid = to_regclass(:table) AND t.tgname = :name"
                ),
                {"table": self.table.name, "name": WAKE_TRIGGER},
            ).scalar()

    def notifications_of_a_write(self):
        """The notifications a listener other than any relay got from one committed write."""
        listener = self.engine.raw_connection()
        self.addCleanup(listener.close)
        connection = listener.driver_connection
        connection.autocommit = True
        connection.execute(f'LISTEN "{self.table.name}"')
        self.write(uuid.uuid4().hex)
        return list(connection.notifies(timeout=0.3))

    def test_writers_notify_only_while_a_relay_waits(self):
        self.assertEqual(self.notifications_of_a_write(), [])  # nobody waits: a commit costs no NOTIFY
        wakeup = wakeup_for(self.engine, self.table, idle=30)
        self.addCleanup(wakeup.close)
        wakeup.wait(found=False)  # takes a wake slot: the relay is about to wait
        self.assertEqual(len(self.notifications_of_a_write()), 1)
        woken = threading.Timer(0.2, self.write, ["later"])
        woken.start()
        self.addCleanup(woken.cancel)
        started = time.monotonic()
        wakeup.wait(found=False)  # waits for the write, then lets the slot go
        self.assertLess(time.monotonic() - started, PROMPT)
        self.assertEqual(self.notifications_of_a_write(), [])

    def test_a_relay_takes_the_first_free_wake_slot_and_only_that_one(self):
        wakeup = wakeup_for(self.engine, self.table, idle=0.05)
        self.addCleanup(wakeup.close)
        other = self.engine.raw_connection()  # another relay, holding the first two slots
        self.addCleanup(other.close)
        other.driver_connection.autocommit = True
        for slot in wakeup.slots[:2]:
            other.driver_connection.execute("SELECT pg_advisory_lock(%s, %s)", slot)
        wakeup.wait(found=False)
        self.assertEqual(wakeup.held, wakeup.slots[2])
        self.assertEqual(self.advisory_locks(wakeup), [wakeup.slots[2]])
        wakeup.wait(found=False)  # nothing written: waits `idle`, then lets the slot go
        self.assertEqual(self.advisory_locks(wakeup), [])
        for slot in wakeup.slots[2:]:
            other.driver_connection.execute("SELECT pg_advisory_lock(%s, %s)", slot)
        wakeup.wait(found=False)  # no slot free: it waits a while and holds none
        self.assertIsNone(wakeup.held)
        self.assertEqual(self.advisory_locks(wakeup), [])

    def advisory_locks(self, wakeup):
        """The wake slots the relay's own session holds."""
        with self.engine.connect() as connection:
            pid = wakeup.connection.info.backend_pid
            rows = connection.execute(
                sa.text(
                    "SELECT classid::bigint, objid::bigint FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = :pid AND granted ORDER BY objid"
                ),
                {"pid": pid},
            )
            return [(int(a), int(b)) for a, b in rows]

    def test_a_change_committed_after_a_writer_held_the_slots_is_delivered_promptly(self):
        """A writer between its insert and its commit keeps the relay from waiting for a
        notification it would not send: the relay reads again shortly instead."""
        self.write("first")
        stream = self.follow()
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        committed = []

        def slow_writer():
            with self.engine.begin() as connection:
                connection.execute(
                    self.table.insert(), [entry_to_row(ChangeLogEntry("insert", entity="a", key="slow"))]
                )
                time.sleep(1.5)  # the relay runs out of reads meanwhile and wants to wait
            committed.append(time.monotonic())

        writer = threading.Thread(target=slow_writer)
        writer.start()
        self.addCleanup(writer.join)
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["slow"])
        self.assertLess(time.monotonic() - committed[0], PROMPT)

    def test_a_relay_renews_the_trigger_of_an_earlier_pdip(self):
        self.replace_trigger_body(self.OLD_BODY)
        self.write("first")
        stream = self.follow()
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        self.assertEqual(self.trigger_body(), WAKE_FUNCTION_BODY)

    def test_a_relay_that_may_not_renew_an_earlier_trigger_keeps_it_and_is_woken_by_it(self):
        self.replace_trigger_body(self.OLD_BODY)
        self.grant_reader()
        url = sa.make_url(self.url).set(username="pdip_it_reader").render_as_string(hide_password=False)
        source = OutboxSource(Connection("sql", {"url": url, "table": self.table.name, "poll_interval": 30}), Context())
        self.addCleanup(source.close)
        self.write("first")
        with self.assertLogs("pdip", "INFO") as logs:
            stream = source.read(ReadRequest(10, follow=True))
            self.addCleanup(stream.close)
            self.assertEqual([entry.key for entry in batch_entries(next(stream))], ["first"])
        self.assertIn("keeps the wake-up trigger of an earlier pdip", "\n".join(logs.output))
        self.assertEqual(self.trigger_body(), self.OLD_BODY)
        self.assertLess(self.delivered_after(stream, 0.3, "second"), PROMPT)

    OLD_BODY = " BEGIN PERFORM pg_notify(TG_TABLE_NAME, ''); RETURN NULL; END "

    def replace_trigger_body(self, body):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION pdip_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $${body}$$"
            )
        self.addCleanup(self._restore_trigger_body)

    def _restore_trigger_body(self):
        with self.engine.begin() as connection:  # the function is shared by every change-log table of the schema
            connection.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION pdip_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $${WAKE_FUNCTION_BODY}$$"
            )

    def grant_reader(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql("DROP ROLE IF EXISTS pdip_it_reader")
            connection.exec_driver_sql("CREATE ROLE pdip_it_reader LOGIN")
            connection.exec_driver_sql(f'GRANT SELECT ON "{self.table.name}" TO pdip_it_reader')
        self.addCleanup(self._drop_reader)

    def _drop_reader(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'REVOKE ALL ON "{self.table.name}" FROM pdip_it_reader')
            connection.exec_driver_sql("DROP ROLE IF EXISTS pdip_it_reader")


class MariaDbWakeupTest(OutboxWakeup, unittest.TestCase):
    database_url = staticmethod(servers.mysql_url)
