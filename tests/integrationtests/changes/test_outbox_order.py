"""The outbox relay under concurrent writers whose transactions commit out of sequence order: A
takes a sequence number and waits, B takes a higher one and commits, the relay reads, then A
commits (or rolls back). The relay must deliver A's entry, before B's, and pass over a number
nobody will write. On SQLite, PostgreSQL and MariaDB."""

import random
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
    def test_many_writers_committing_out_of_order_are_read_each_once_in_order(self):
        """Seven writers, each writing a row of its own before its entry (as the outbox does),
        pausing at random before and after, some rolling back, while a follower reads."""
        scratch = sa.Table(f"{self.table.name}_w", sa.MetaData(), sa.Column("n", sa.Integer))
        scratch.create(self.engine)
        self.addCleanup(scratch.drop, self.engine)
        engine = sa.create_engine(self.url, pool_size=10)
        self.addCleanup(engine.dispose)
        written, read, until = [], [], time.monotonic() + 4

        def writer(number):
            rng = random.Random(number)
            while time.monotonic() < until:
                with engine.connect() as connection, connection.begin() as transaction:
                    connection.execute(scratch.insert(), {"n": number})
                    time.sleep(rng.random() * 0.002)
                    sequence = connection.execute(
                        self.table.insert().returning(self.table.c.sequence), [entry_to_row(entry(number))]
                    ).scalar()
                    time.sleep(rng.random() * 0.004 if rng.random() < 0.3 else 0)
                    if rng.random() < 0.03:
                        transaction.rollback()
                        continue
                written.append(sequence)

        def follower():
            for entries, _ in ChangeLogReader(engine, self.table).follow(0, 500, idle=0.2):
                read.extend(e.sequence for e in entries)
                if time.monotonic() > until and len(read) >= len(written) and not writers_alive():
                    return

        threads = [threading.Thread(target=writer, args=(number,)) for number in range(7)]
        writers_alive = lambda: any(thread.is_alive() for thread in threads)  # noqa: E731
        reading = threading.Thread(target=follower, daemon=True)
        reading.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reading.join(timeout=30)
        self.assertGreater(len(written), 100)
        self.assertEqual(sorted(set(written) - set(read)), [], "entries passed over")
        self.assertEqual(read, sorted(written), "each entry read once, in sequence order")

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

    def test_a_writer_whose_transaction_id_is_newer_than_every_finished_one_is_waited_for(self):
        """B takes its transaction id, then A takes a newer one and the lower sequence number, and
        B commits the higher one. A snapshot's xmax is one past the newest *finished* transaction,
        so A is then neither in the snapshot's running list nor below its xmax: a check of
        `xmin >= xmax` alone passes A over for good (seen in the latency benchmark at 700
        changes/s: one insert lost in 7,000)."""
        a, b = self.engine.connect(), self.engine.connect()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        b.begin()
        b.exec_driver_sql("SELECT pg_current_xact_id()")  # as an application writing its entity first
        a.begin()
        self.write(a, "A")
        self.write(b, "B")
        b.commit()
        reader = ChangeLogReader(self.engine, self.table, wait=0.2)
        self.assertEqual([e.key for batch in reader.read() for e in batch], [])
        self.assertTrue(reader.held_back)
        a.commit()
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["A", "B"])

    def test_a_gap_settles_while_transactions_that_write_nothing_here_run_on(self):
        """The oldest snapshot of the whole server (`xmin`) is held back by any long transaction,
        a report reading for an hour or a writer in another database: neither can hold a number of
        this outbox, and the reader passes a rolled back number over while they run."""
        reporting, elsewhere = self.engine.connect(), self.other_database().connect()
        self.addCleanup(reporting.close)
        self.addCleanup(elsewhere.close)
        reporting.execution_options(isolation_level="REPEATABLE READ").begin()
        reporting.exec_driver_sql("SELECT count(*) FROM pg_class")  # a snapshot, no transaction id
        elsewhere.begin()
        elsewhere.exec_driver_sql("SELECT pg_current_xact_id()")  # a writer in another database
        self.gap_then("kept")
        reader = ChangeLogReader(self.engine, self.table, wait=0.5)
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["kept"])
        self.assertFalse(reader.held_back)

    def test_a_writer_of_this_database_that_never_wrote_to_the_outbox_does_not_hold_a_gap(self):
        """A transaction that has its id but holds no write lock on the outbox table has taken no
        number: a number it takes later comes after every one read (a writer locks the table
        before it takes one)."""
        writer = self.engine.connect()
        self.addCleanup(writer.close)
        writer.begin()
        writer.exec_driver_sql("SELECT pg_current_xact_id()")  # an application writing its entity first
        self.gap_then("kept")
        reader = ChangeLogReader(self.engine, self.table, wait=0.5)
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["kept"])
        self.write(writer, "late")
        writer.commit()
        self.assertEqual([e.key for batch in reader.read(after=self.sequences()["kept"]) for e in batch], ["late"])

    def gap_then(self, key):
        """A number taken by a rolled back writer, then an entry for `key` committed."""
        with self.engine.connect() as connection:
            with connection.begin() as rolled_back:
                self.write(connection, "never")
                rolled_back.rollback()
            with connection.begin():
                self.write(connection, key)

    def other_database(self) -> sa.Engine:
        """The server's `postgres` database, which every PostgreSQL server has."""
        engine = sa.create_engine(sa.make_url(self.url).set(database="postgres"))
        self.addCleanup(engine.dispose)
        return engine

    def test_a_gap_filled_by_its_writer_goes_on_without_waiting_for_other_transactions(self):
        """A transaction that has nothing to do with the outbox (another application, a replica
        applying an earlier batch) keeps the server's xmin back: a gap waits only for its own
        writer's commit, not for every transaction on the server to end."""
        a, b, other = self.engine.connect(), self.engine.connect(), self.engine.connect()
        for connection in (a, b, other):
            self.addCleanup(connection.close)
        other.begin()
        other.exec_driver_sql("SELECT pg_current_xact_id()")  # runs until the test ends
        a.begin()
        self.write(a, "A")
        with b.begin():
            self.write(b, "B")
        reader = ChangeLogReader(self.engine, self.table, wait=5)
        threading.Timer(0.2, a.commit).start()
        started = time.monotonic()
        self.assertEqual([e.key for batch in reader.read() for e in batch], ["A", "B"])
        self.assertLess(time.monotonic() - started, 4, "the read went on once A committed, while `other` runs")
        self.assertFalse(reader.held_back)

    def test_a_gap_filled_before_the_reader_asks_is_settled_at_once(self):
        other = self.engine.connect()
        self.addCleanup(other.close)
        other.begin()
        other.exec_driver_sql("SELECT pg_current_xact_id()")  # holds the server's xmin back
        with self.engine.begin() as connection:
            for key in "AB":
                self.write(connection, key)
        first = self.sequences()["A"]
        self.assertEqual(settled_sequence(self.engine, self.table, first - 1, wait=0), first)


class MariaDbOutboxOrderTest(ServerOutboxOrder, unittest.TestCase):
    @classmethod
    def database_url(cls):
        return servers.mysql_url()

    def test_a_gap_is_settled_only_once_statements_that_mention_the_table_are_over(self):
        """A writer takes its number before its row is in the index, where a locking read does
        not see it: the reader waits for the statements on the table under way (here one that
        reads it slowly stands for an insert between its number and its row)."""
        for key in ("A", "B", "C"):
            with self.engine.begin() as connection:
                self.write(connection, key)
        slow = threading.Thread(target=self._slow_statement, args=(0.5,))
        slow.start()
        self.addCleanup(slow.join)
        time.sleep(0.1)
        started = time.monotonic()
        self.assertIsNone(settled_sequence(self.engine, self.table, 1, wait=0.1))
        self.assertEqual(settled_sequence(self.engine, self.table, 1, wait=5), 3)
        self.assertGreater(time.monotonic() - started, 0.3)

    def _slow_statement(self, seconds):
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT SLEEP({seconds}) FROM {self.table.name} LIMIT 1")

    def test_a_reader_without_the_process_privilege_says_what_it_cannot_see(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql("DROP USER IF EXISTS 'pdip_it_reader'@'%%'")
            connection.exec_driver_sql("CREATE USER 'pdip_it_reader'@'%%'")
            database = sa.make_url(self.url).database
            connection.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO 'pdip_it_reader'@'%%'")
            self.write(connection, "A")
            self.write(connection, "B")
        self.addCleanup(self._drop_reader)
        url = sa.make_url(self.url).set(username="pdip_it_reader", password=None)
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with self.assertLogs("pdip.data.outbox", "WARNING") as logs:
            self.assertEqual(settled_sequence(engine, self.table, 0, wait=1), 2)
            self.assertEqual(settled_sequence(engine, self.table, 0, wait=1), 2)
        self.assertEqual(len(logs.output), 1, "said once per connection")
        self.assertIn(f"outbox {self.table.name}: this user lacks the PROCESS privilege", logs.output[0])

    def _drop_reader(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql("DROP USER IF EXISTS 'pdip_it_reader'@'%%'")


if __name__ == "__main__":
    unittest.main()
