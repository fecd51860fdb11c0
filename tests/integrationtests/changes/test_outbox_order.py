"""The outbox relay under concurrent writers whose transactions commit out of sequence order: A
takes a sequence number and waits, B takes a higher one and commits, the relay reads, then A
commits (or rolls back). The relay must deliver A's entry, before B's, and pass over a number
nobody will write. On SQLite, PostgreSQL and MariaDB."""

import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip.conversion.tagged import loads
from pdip.data.outbox import ChangeLogReader, settled_sequence
from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.changes import OutboxSource
from pdip.integrator.changes import batch_entries
from pdip.tracking import ChangeLogEntry
from pdip.tracking.table import change_log_table, entry_to_row
from tests.integrationtests.kafka.support import Context
from tests.support import servers


def entry(key):
    return ChangeLogEntry("insert", entity="accounts", key=key, after={"id": key})


class OutboxOrder:
    """The tests; subclasses say which database and how its writers meet."""

    @classmethod
    def setUpClass(cls):
        cls.url = cls.database_url()
        cls.engine = sa.create_engine(cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()

    def setUp(self):
        self.table = change_log_table(sa.MetaData(), f"pdip_it_order_{uuid.uuid4().hex[:8]}")
        self.table.create(self.engine)
        self.addCleanup(self.table.drop, self.engine)

    def source(self, **settings):
        settings = {"url": self.url, "table": self.table.name, "poll_interval": 0.05, **settings}
        source = OutboxSource(Connection("sql", settings), Context())
        self.addCleanup(source.close)
        return source

    def keys(self, source, resume=0, size=10):
        return [entry.key for batch in source.read(ReadRequest(size, resume=resume)) for entry in batch_entries(batch)]

    def test_an_empty_table_is_settled_where_the_reader_stands(self):
        self.assertEqual(settled_sequence(self.engine, self.table, 7, wait=0), 7)
        self.assertEqual(ChangeLogReader(self.engine, self.table).last_sequence(), 0)

    def write(self, connection, key):
        connection.execute(self.table.insert(), [entry_to_row(entry(key))])

    def sequences(self):
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.table.c.key, self.table.c.sequence)).all()
        return {loads(key): sequence for key, sequence in rows}


class ServerOutboxOrder(OutboxOrder):
    def test_an_entry_committed_after_a_higher_one_was_read_is_delivered_first(self):
        a, b = self.engine.connect(), self.engine.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        source = self.source()
        a.begin()
        self.write(a, "A")  # takes the lower sequence number and waits
        with b.begin():
            self.write(b, "B")
        started = time.monotonic()
        self.assertEqual(self.keys(source), [], "B is held back while A may still commit below it")
        self.assertGreaterEqual(time.monotonic() - started, 0.05, "the read waited poll_interval for A")
        a.commit()
        sequences = self.sequences()
        self.assertLess(sequences["A"], sequences["B"])
        self.assertEqual(self.keys(source), ["A", "B"])
        self.assertEqual(self.keys(source, resume=sequences["A"]), ["B"])

    def test_a_follower_delivers_the_late_entry_and_the_data_layer_reader_too(self):
        a, b = self.engine.connect(), self.engine.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        with a.begin():
            self.write(a, "first")
        a.begin()
        self.write(a, "A")
        with b.begin():
            self.write(b, "B")
        stream = self.source().read(ReadRequest(10, follow=True))
        self.addCleanup(stream.close)
        self.assertEqual([e.key for e in batch_entries(next(stream))], ["first"])
        reader = ChangeLogReader(self.engine, self.table, wait=0)
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["first"])
        self.assertTrue(reader.held_back)
        threading.Timer(0.3, a.commit).start()
        delivered = []
        while len(delivered) < 2:
            delivered += [e.key for e in batch_entries(next(stream))]
        self.assertEqual(delivered, ["A", "B"])
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["first", "A", "B"])

    def test_a_number_nobody_will_write_is_passed_over_and_entities_are_kept_across_it(self):
        a, b = self.engine.connect(), self.engine.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.begin()
        self.write(a, "A")
        with b.begin():
            self.write(b, "B")
            b.execute(self.table.insert(), [entry_to_row(ChangeLogEntry("insert", entity="other", key="C"))])
        a.rollback()
        # a long wait: other sessions' transactions on the server may be running at the moment
        self.assertEqual(self.keys(self.source(poll_interval=30)), ["B", "C"])
        # batches of one: B's holds no entry of `other`, and only C's goes out
        self.assertEqual(self.keys(self.source(poll_interval=30, entities=["other"]), size=1), ["C"])
        reader = ChangeLogReader(self.engine, self.table, entities=["other"], wait=30)
        self.assertEqual([[e.key for e in batch] for batch in reader.read(batch_size=1)], [["C"]])


class SqliteOutboxOrderTest(OutboxOrder, unittest.TestCase):
    @classmethod
    def database_url(cls):
        cls.folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(cls.folder.name) / 'outbox.db'}"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.folder.cleanup()

    def test_one_writer_at_a_time_so_commits_come_in_sequence_order(self):
        a = self.engine.connect()
        self.addCleanup(a.close)
        other = sa.create_engine(self.url, connect_args={"timeout": 0.05})
        self.addCleanup(other.dispose)
        b = other.connect()
        self.addCleanup(b.close)
        a.begin()
        self.write(a, "A")
        with self.assertRaisesRegex(sa.exc.OperationalError, "database is locked"), b.begin():
            self.write(b, "B")  # B cannot take a number (nor commit) while A's transaction is open
        a.commit()
        with b.begin():
            self.write(b, "B")
        self.assertEqual(self.keys(self.source()), ["A", "B"])

    def test_a_gap_left_by_a_deleted_entry_is_passed_over_at_once(self):
        with self.engine.begin() as connection:
            for key in "ABC":
                self.write(connection, key)
        with self.engine.begin() as connection:
            connection.execute(self.table.delete().where(self.table.c.sequence == self.sequences()["B"]))
        self.assertEqual(self.keys(self.source()), ["A", "C"])


class PostgresOutboxOrderTest(ServerOutboxOrder, unittest.TestCase):
    @classmethod
    def database_url(cls):
        return servers.postgres_url()


class MariaDbOutboxOrderTest(ServerOutboxOrder, unittest.TestCase):
    @classmethod
    def database_url(cls):
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
