"""Capture from PostgreSQL's log (`capture: logical`) on a server the tests start with wal_level=logical.

The source database is that server's `postgres` database; the replica is a database of its own
on the same server. Each test uses its own tables, publication and slot.
"""

from __future__ import annotations

import datetime as dt
import time
import unittest
import uuid
from decimal import Decimal

import psycopg2
import psycopg2.extras
import sqlalchemy as sa

from pdip.integrator import Connection
from pdip.integrator.adapters.sql import positions
from tests.support.capture_cases import CapturedDatabasesCase
from tests.support.logical_postgres import logical_postgres_url
from tests.support.servers import postgres_url
from tests.unittests.test_cli import run as run_cli

REPLICA_DATABASE = "pdip_capture_replica"


def capture(name: str, **settings) -> Connection:
    return Connection(
        "postgresql",
        {"url": CaptureCase.url, "capture": "logical", "slot": name, "publication": name, **settings},
    )


class CaptureCase(CapturedDatabasesCase):
    """The server, the replica database and the helpers of the capture tests."""

    replica_database = REPLICA_DATABASE

    @classmethod
    def server_url(cls) -> str:
        CaptureCase.url = logical_postgres_url()  # what `capture` connects to
        return CaptureCase.url

    @classmethod
    def create_replica(cls, source: sa.Engine) -> None:
        with source.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            if not db.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{REPLICA_DATABASE}'").first():
                db.exec_driver_sql(f"CREATE DATABASE {REPLICA_DATABASE}")

    def run_capture(self, name, source, target, follow=False, execution="run-1", max_errors=0, **settings):
        return self.integrate(name, source, target, execution, follow=follow, max_errors=max_errors, **settings)

    def slot_lsn(self, slot):
        with self.source.connect() as db:
            return db.exec_driver_sql(
                f"SELECT confirmed_flush_lsn - '0/0', active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'"
            ).first()

    def drop(self, name, *tables):
        self.sql(
            self.source, *(f"DROP TABLE IF EXISTS {table}" for table in tables), f"DROP PUBLICATION IF EXISTS {name}"
        )
        deadline = time.monotonic() + 10  # a consumer just closed: the server lets go of its slot a moment later
        while True:
            try:
                with self.source.begin() as db:
                    db.exec_driver_sql(
                        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{name}'"
                    )
                return
            except sa.exc.DBAPIError as error:
                if "is active for PID" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class CaptureTests(CaptureCase):
    # -- the behaviour --

    def test_a_snapshot_then_the_stream_reach_the_replica_with_their_types(self):
        name = "types_capture"
        self.drop(name, "gadgets")
        self.sql(
            self.source,
            "CREATE TABLE gadgets (id int PRIMARY KEY, price numeric(12, 4), seen timestamptz, ref uuid, "
            "spec jsonb, tags text[], note text)",
            "ALTER TABLE gadgets REPLICA IDENTITY FULL",
            "INSERT INTO gadgets VALUES (1, 10.1234, '2024-05-01 10:00+02', 'b4d6ee06-7bd3-4e49-a54f-3a8a2cc07b8f', "
            """'{"a": [1, 2]}', '{x,"y z"}', 'first'), (2, 2, now(), NULL, NULL, '{}', 'second')""",
        )
        self.sql(
            self.replica,
            "DROP TABLE IF EXISTS gadgets",
            "CREATE TABLE gadgets (id int PRIMARY KEY, price numeric(12, 4), seen timestamptz, ref uuid, "
            "spec jsonb, tags text[], note text)",
        )
        target = Connection("postgresql", {"url": self.replica_url, "table": "gadgets"})
        source = capture(name, tables=["gadgets"], create=True)
        result, _ = self.run_capture(name, source, target)
        self.assertTrue(result.ok, result)
        self.assertEqual(result["capture"].rows_written, 2)  # the snapshot
        self.sql(
            self.source,
            "INSERT INTO gadgets VALUES (3, -0.5, '1999-12-31 23:59:59.999999+00', gen_random_uuid(), '[true]', "
            "'{a}', 'third')",
            "UPDATE gadgets SET price = price * 2, note = 'changed' WHERE id = 1",
            "DELETE FROM gadgets WHERE id = 2",
        )
        entries = []
        result, _ = self.run_capture(name, source, target, execution="run-2")
        self.assertTrue(result.ok, result)
        self.assertEqual(result["capture"].rows_written, 3, result)
        self.assert_same("gadgets")
        with self.replica.connect() as db:
            row = db.exec_driver_sql("SELECT * FROM gadgets WHERE id = 1").one()
        self.assertEqual(row.price, Decimal("20.2468"))
        self.assertEqual(row.seen, dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.timezone.utc))
        self.assertEqual(row.ref, uuid.UUID("b4d6ee06-7bd3-4e49-a54f-3a8a2cc07b8f"))
        self.assertEqual((row.spec, row.tags), ({"a": [1, 2]}, ["x", "y z"]))
        # the slot was told exactly what the replica stored, nothing more
        stored = positions.load_position(self.replica, f"{name}/capture")
        self.assertEqual(stored["lsn"], self.slot_lsn(name)[0])
        self.assertIsNone(self.slot_lsn(name)[1])  # not held by anyone once the run ended

        # the same stream to a memory store: the entries themselves, before images included
        self.sql(self.source, "UPDATE gadgets SET note = 'again' WHERE id = 3", "TRUNCATE gadgets")
        result, _ = self.run_capture(name, source, Connection("memory", {"store": "out"}), store=("out", entries))
        self.assertTrue(result.ok, result)
        update, clear = entries
        self.assertEqual((update.action, update.entity, update.key), ("update", "gadgets", 3))
        self.assertEqual((update.before["note"], update.after["note"]), ("third", "again"))
        self.assertEqual(update.before["spec"], [True])
        self.assertEqual((clear.action, clear.entity), ("clear", "gadgets"))

    def test_a_truncate_empties_the_replica_table(self):
        name = "truncate_capture"
        self.drop(name, "notes")
        self.sql(self.source, "CREATE TABLE notes (id int PRIMARY KEY, body text)", "INSERT INTO notes VALUES (1, 'a')")
        self.sql(self.replica, "DROP TABLE IF EXISTS notes", "CREATE TABLE notes (id int PRIMARY KEY, body text)")
        target = Connection("postgresql", {"url": self.replica_url, "table": "notes"})
        source = capture(name, tables=["notes"], create=True)
        self.assertTrue(self.run_capture(name, source, target)[0].ok)
        self.sql(self.source, "INSERT INTO notes VALUES (2, 'b')")
        with self.source.begin() as db:
            db.exec_driver_sql("TRUNCATE notes")
            db.exec_driver_sql("INSERT INTO notes VALUES (3, 'c')")
        result, _ = self.run_capture(name, source, target, execution="run-2")
        self.assertTrue(result.ok, result)
        self.assert_same("notes")

    def test_each_batch_says_how_far_behind_the_log_it_is_and_the_execution_record_keeps_it(self):
        name = "lag_capture"
        self.drop(name, "ticks", "noise")
        self.sql(self.source, "CREATE TABLE ticks (id int PRIMARY KEY)", "CREATE TABLE noise (id int, pad text)")
        self.sql(self.replica, "DROP TABLE IF EXISTS ticks", "CREATE TABLE ticks (id int PRIMARY KEY)")
        target = Connection("postgresql", {"url": self.replica_url, "table": "ticks"})
        source = capture(name, tables=["ticks"], create=True)  # an empty table: a copy of nothing
        self.assertTrue(self.run_capture(name, source, target)[0].ok)
        # one captured change, then about 2 MB of log the capture does not publish
        self.sql(self.source, "INSERT INTO ticks VALUES (1)")
        self.sql(self.source, "INSERT INTO noise SELECT n, repeat('x', 100) FROM generate_series(1, 12000) n")
        events = []
        result, _ = self.run_capture(name, source, target, execution="lag", events=events)
        self.assertTrue(result.ok, result)
        lag = result["capture"].lag
        self.assertEqual([event.lag for event in events], [lag])
        self.assertEqual(result["capture"].lag_max, lag)
        with self.source.connect() as db:
            held = db.exec_driver_sql(
                f"SELECT pg_current_wal_insert_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                f"WHERE slot_name = '{name}'"
            ).scalar()
        self.assertGreater(lag, 1_000_000)  # the noise written past the captured change
        self.assertLessEqual(lag, held)
        code, out, _ = run_cli("executions", "show", result.execution_id, "--root", self.root.name)
        self.assertEqual(code, 0)
        self.assertIn(f"capture: behind the source's log: {lag / 2**20:.1f} MiB at the last batch", out)

    # -- bad input: refused before any data moves, naming the setting --

    def test_wal_level_not_logical_is_refused(self):
        source = Connection(
            "postgresql",
            {"url": postgres_url(), "capture": "logical", "slot": "nope", "publication": "nope", "tables": ["x"]},
        )
        result, _ = self.run_capture("walcheck", source, Connection("memory", {"store": "out"}), store=("out", []))
        self.assertFalse(result.ok)
        self.assertIn("wal_level = logical", result["capture"].error)

    def test_missing_publication_table_without_key_and_busy_slot_are_refused(self):
        name = "refusals_capture"
        self.drop(name, "keyless")
        self.sql(self.source, "CREATE TABLE keyless (id int, body text)")
        out = Connection("memory", {"store": "out"})
        result, _ = self.run_capture(name, capture(name), out, store=("out", []))
        self.assertIn(f"publication: {name!r} does not exist", result["capture"].error)
        result, _ = self.run_capture(name, capture(name, tables=["keyless"], create=True), out, store=("out", []))
        self.assertIn("tables: table 'keyless' has no primary key", result["capture"].error)

        self.sql(
            self.source, "ALTER TABLE keyless ADD PRIMARY KEY (id)", f"CREATE PUBLICATION {name} FOR TABLE keyless"
        )
        result, _ = self.run_capture(name, capture(name), out, store=("out", []))
        self.assertIn(f"slot: replication slot {name!r} does not exist; set create: true", result["capture"].error)
        busy = psycopg2.connect(
            sa.engine.make_url(self.url).set(drivername="postgresql").render_as_string(False),
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
        )
        try:
            cursor = busy.cursor()
            cursor.create_replication_slot(name, output_plugin="pgoutput")
            cursor.start_replication(slot_name=name, options={"proto_version": "1", "publication_names": name})
            result, letters = self.run_capture(name, capture(name), out, store=("out", []))
        finally:
            busy.close()
        self.assertIn(f"slot: {name!r} is in use by server process", result["capture"].error)
        self.assertEqual(letters, [])


class CaptureEdgeTests(CaptureCase):
    """What the capture does at the edges: a copy continued after its last key, refusals, the CLI."""

    def source_of(self, name, **settings):
        from pdip.integrator.adapters.sql.capture_postgres import PostgresCaptureSource

        return PostgresCaptureSource(capture(name, **settings), None)

    def read(self, source, **request):
        from pdip.integrator.adapters.base import ReadRequest

        try:
            return list(source.read(ReadRequest(2, **request)))
        finally:
            source.close()

    def test_an_interrupted_copy_goes_on_after_its_last_key_and_the_stream_follows(self):
        name = "resumed_copy"
        self.drop(name, "parts", "empty_parts")
        self.sql(
            self.source,
            "CREATE TABLE parts (a int, b int, label text, PRIMARY KEY (a, b))",
            "CREATE TABLE empty_parts (a int PRIMARY KEY)",
            "INSERT INTO parts VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z'), (3, 1, 'w'), (3, 2, 'v')",
        )
        batches = self.read(self.source_of(name, tables=["parts", "empty_parts"], create=True))
        self.assertEqual([len(batch) for batch in batches], [2, 2, 1])
        first = batches[0].rows[0][0]
        self.assertEqual((first.entity, first.key, first.after), ("parts", [1, 1], {"a": 1, "b": 1, "label": "x"}))
        start = batches[-1].position["lsn"]
        self.assertEqual(batches[-1].position, {"lsn": start})  # the last batch: the copy is done
        self.assertEqual(batches[0].position["snapshot"], {"table": "parts", "after": [1, 2]})

        self.sql(self.source, "INSERT INTO parts VALUES (4, 1, 'new')", "UPDATE parts SET label = 'x2' WHERE a = 1")
        interrupted = {"lsn": start, "snapshot": {"table": "parts", "after": [2, 1]}}
        with self.assertLogs("pdip.integrator.capture", "WARNING") as logged:
            batches = self.read(self.source_of(name, max_slot_wal="0"), resume=interrupted)
        self.assertIn("MiB of WAL (max_slot_wal: 0); drop it with `pdip capture drop-slot`", logged.output[0])
        copied = [row[0] for batch in batches for row in batch.rows]
        # the copy after (2, 1) in a snapshot of now, then every change since the slot's start
        self.assertEqual(
            [(entry.action, entry.key) for entry in copied],
            [
                ("insert", [3, 1]),
                ("insert", [3, 2]),
                ("insert", [4, 1]),
                ("insert", [4, 1]),
                ("update", [1, 1]),
                ("update", [1, 2]),
            ],
        )

    def test_refusals_name_the_setting(self):
        from pdip.integrator.adapters.sql.capture_postgres import CaptureError

        name = "refused_edges"
        self.drop(name, "edges")
        cases = [
            ({"slot": ""}, "slot: required with capture: logical"),
            ({"publication": "Bad-Name"}, "publication: 'Bad-Name' must be lower-case"),
            ({"create": True}, f"tables: name the tables to publish in {name!r}"),
            ({"create": True, "tables": ["missing_table"]}, "tables: table 'missing_table' does not exist"),
        ]
        for settings, message in cases:
            with self.subTest(settings=settings), self.assertRaisesRegex(CaptureError, message):
                self.source_of(name, **settings)
        sqlite = Connection("sqlite", {"database": ":memory:", "capture": "logical", "slot": "s", "publication": "p"})
        from pdip.integrator.adapters.sql.capture_postgres import PostgresCaptureSource

        with self.assertRaisesRegex(CaptureError, "logical reads PostgreSQL's log; this is sqlite"):
            PostgresCaptureSource(sqlite, None)

        self.sql(self.source, "CREATE TABLE edges (id int PRIMARY KEY)", f"CREATE PUBLICATION {name} FOR TABLE edges")
        with self.source.begin() as db:
            db.exec_driver_sql(f"SELECT pg_create_logical_replication_slot('{name}', 'test_decoding')")
        with self.assertRaisesRegex(CaptureError, "decodes with 'test_decoding'; pdip reads pgoutput"):
            self.source_of(name)
        self.drop(name)
        self.sql(self.source, f"CREATE PUBLICATION {name} FOR TABLE edges")
        with self.assertRaisesRegex(CaptureError, f"slot: {name!r} is gone"):
            self.read(self.source_of(name, create=True), resume={"lsn": 1})

    def test_drop_slot_from_the_command_line(self):
        from pdip.cli import main

        name = "dropped_by_cli"
        self.drop(name)
        with self.source.begin() as db:
            db.exec_driver_sql(f"SELECT pg_create_logical_replication_slot('{name}', 'pgoutput')")
        self.assertEqual(main(["capture", "drop-slot", name, "--url", self.url]), 0)
        self.assertIsNone(self.slot_lsn(name))
        self.assertEqual(main(["capture", "drop-slot", name, "--url", self.url]), 2)
        with self.source.begin() as db:
            db.exec_driver_sql(f"SELECT pg_create_logical_replication_slot('{name}', 'pgoutput')")
        busy = psycopg2.connect(
            sa.engine.make_url(self.url).set(drivername="postgresql").render_as_string(False),
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
        )
        try:
            busy.cursor().start_replication(slot_name=name, options={"proto_version": "1", "publication_names": "x"})
            self.assertEqual(main(["capture", "drop-slot", name, "--url", self.url]), 2)  # in use: refused
        finally:
            busy.close()
        self.drop(name)

    def test_a_clear_is_applied_when_the_batch_goes_entry_by_entry(self):
        from pdip.tracking import ChangeLogEntry

        self.sql(self.replica, "DROP TABLE IF EXISTS counted", "CREATE TABLE counted (id int PRIMARY KEY, n int)")
        self.sql(self.replica, "INSERT INTO counted VALUES (1, 1), (2, 2)")
        log = [
            ChangeLogEntry("insert", entity="counted", key=3, after={"id": 3, "n": 3}),
            ChangeLogEntry("clear", entity="counted"),
            ChangeLogEntry("insert", entity="counted", key=4, after={"id": 4, "n": "not a number"}),
            ChangeLogEntry("insert", entity="counted", key=5, after={"id": 5, "n": 5}),
        ]
        target = Connection("postgresql", {"url": self.replica_url, "table": "counted"})
        result, letters = self.run_capture(
            "clears", Connection("memory", {"store": "log"}), target, store=("log", log), max_errors=1
        )
        self.assertEqual(result["capture"].rows_written, 3, result)  # inserts 3 (emptied), clear, insert 5
        self.assertEqual([letter["row"]["entry"]["key"] for letter in letters], [4])
        with self.replica.connect() as db:
            self.assertEqual(db.exec_driver_sql("SELECT * FROM counted").all(), [(5, 5)])


if __name__ == "__main__":
    unittest.main()
