"""Capture from MariaDB's binlog (`capture: binlog`) on a server the tests start with a row binlog.

The source database is that server's `pdip_capture`; the replica is a database of its own on the
same server (its writes are in the same binlog, and the capture must leave them out). Each test
uses its own tables and operation name.
"""

from __future__ import annotations

import datetime as dt
import unittest
from decimal import Decimal

import sqlalchemy as sa

from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql import positions
from pdip.integrator.adapters.sql.capture_mariadb import BinlogCaptureSource
from pdip.integrator.adapters.sql.capture_postgres import CaptureError
from tests.support.binlog_mariadb import binlog_mariadb_url
from tests.support.capture_cases import CapturedDatabasesCase
from tests.support.servers import mysql_url

REPLICA_DATABASE = "pdip_capture_replica"
GADGETS = (
    "CREATE TABLE gadgets (id int PRIMARY KEY, price decimal(12, 4), made datetime(6), seen timestamp(6) NULL, "
    "spec json, photo blob, note varchar(40))"
)


def binlog(**settings) -> Connection:
    return Connection("mariadb", {"url": BinlogCase.url, "capture": "binlog", **settings})


class BinlogCase(CapturedDatabasesCase):
    """The server, the replica database and the helpers of the binlog capture tests."""

    replica_database = REPLICA_DATABASE

    @classmethod
    def server_url(cls) -> str:
        BinlogCase.url = binlog_mariadb_url()  # what `binlog` connects to
        return BinlogCase.url

    @classmethod
    def create_replica(cls, source: sa.Engine) -> None:
        with source.begin() as db:
            db.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {REPLICA_DATABASE}")

    def run_capture(self, name, source, target, execution="run", store=None, events=None, batch_size=1000, schema=None):
        result, self.letters = self.integrate(
            name, source, target, execution, store, events, batch_size=batch_size, schema=schema
        )
        return result


class BinlogCaptureTests(BinlogCase):
    def test_a_snapshot_then_the_stream_reach_the_replica_with_their_types(self):
        name = "binlog_types"
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS gadgets",
            GADGETS,
            "INSERT INTO gadgets VALUES (1, 10.1234, '2024-05-01 10:00:00.5', '2024-05-01 08:00:00.25', "
            """'{"a": [1, 2]}', x'00ff10', 'first'), (2, 2, now(), now(), NULL, NULL, 'second')""",
        )
        self.sql(self.replica, "DROP TABLE IF EXISTS gadgets", GADGETS)
        target = Connection("mariadb", {"url": self.replica_url, "table": "gadgets"})
        source = binlog(tables=["gadgets"])
        result = self.run_capture(name, source, target)
        self.assertTrue(result.ok, result)
        self.assertEqual(result["capture"].rows_written, 2)  # the snapshot
        with self.source.begin() as db:  # one transaction: three changes
            db.exec_driver_sql(
                "INSERT INTO gadgets VALUES (3, -0.5, '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00', '[true]', "
                "x'', 'third')"
            )
            db.exec_driver_sql("UPDATE gadgets SET price = price * 2, note = 'changed' WHERE id = 1")
            db.exec_driver_sql("DELETE FROM gadgets WHERE id = 2")
        self.sql(self.replica, "INSERT INTO gadgets (id) VALUES (99)")  # the replica's own binlog rows: not read
        self.sql(self.replica, "DELETE FROM gadgets WHERE id = 99")
        result = self.run_capture(name, source, target, execution="run-2")
        self.assertTrue(result.ok, self.letters)
        self.assertEqual(result["capture"].rows_written, 3, result)
        self.assert_same("gadgets")
        with self.replica.connect() as db:
            row = db.exec_driver_sql("SELECT price, photo FROM gadgets WHERE id = 1").one()
        self.assertEqual(tuple(row), (Decimal("20.2468"), b"\x00\xff\x10"))
        stored = positions.load_position(self.replica, f"{name}/capture")
        self.assertEqual(set(stored), {"file", "pos"})
        with self.source.connect() as db:
            end = db.exec_driver_sql("SHOW STATUS LIKE 'binlog_snapshot_position'").one()[1]
        self.assertLess(int(stored["pos"]), int(end))  # the replica's own later writes were not waited for

        # the same stream to a memory store: the entries themselves, with their before images
        entries = []
        self.sql(self.source, "UPDATE gadgets SET note = 'again' WHERE id = 3", "TRUNCATE gadgets")
        out = Connection("memory", {"store": "out"})
        later = binlog(tables=["gadgets"], snapshot=False)
        result = self.run_capture("binlog_entries", later, out, store=("out", entries))
        self.assertTrue(result.ok, result)
        self.assertEqual(entries, [])  # no snapshot: the first run starts at the binlog's end
        self.sql(self.source, "INSERT INTO gadgets VALUES (4, 1.5, '2024-01-02 03:04:05', NULL, '{}', x'01', 'x')")
        self.sql(self.source, "UPDATE gadgets SET note = 'y', spec = '{\"k\": null}' WHERE id = 4", "TRUNCATE gadgets")
        self.sql(self.replica, "TRUNCATE gadgets")  # another database's table of the same name: not captured
        result = self.run_capture("binlog_entries", later, out, store=("out", entries))
        self.assertTrue(result.ok, result)
        insert, update, clear = entries
        self.assertEqual((insert.action, insert.entity, insert.key), ("insert", "gadgets", 4))
        self.assertEqual(insert.after["price"], Decimal("1.5000"))
        self.assertEqual(insert.after["made"], dt.datetime(2024, 1, 2, 3, 4, 5))
        self.assertIsNone(insert.after["seen"])
        self.assertEqual((insert.after["spec"], insert.after["photo"]), ("{}", b"\x01"))  # JSON: its text
        self.assertEqual((update.before["note"], update.after["note"]), ("x", "y"))
        self.assertEqual((update.before["spec"], update.after["spec"]), ("{}", '{"k": null}'))
        self.assertEqual((clear.action, clear.entity), ("clear", "gadgets"))

    def test_a_timestamp_is_an_aware_utc_time_in_the_snapshot_and_in_the_stream(self):
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS stamps",
            "CREATE TABLE stamps (a int, b int, seen timestamp(3) NULL, PRIMARY KEY (a, b))",
            "SET time_zone = '+02:00'",
            "INSERT INTO stamps VALUES (1, 1, '2024-05-01 10:00:00.125')",
        )
        entries = []
        out = Connection("memory", {"store": "out"})
        self.assertTrue(self.run_capture("binlog_stamps", binlog(tables="stamps"), out, store=("out", entries)).ok)
        with self.source.begin() as db:
            db.exec_driver_sql("SET time_zone = '+02:00'")
            db.exec_driver_sql("INSERT INTO stamps VALUES (1, 2, '2024-05-01 10:00:00.125')")
        self.assertTrue(self.run_capture("binlog_stamps", binlog(tables="stamps"), out, store=("out", entries)).ok)
        utc = dt.datetime(2024, 5, 1, 8, 0, 0, 125000, tzinfo=dt.timezone.utc)
        self.assertEqual([(entry.key, entry.after["seen"]) for entry in entries], [([1, 1], utc), ([1, 2], utc)])

    def test_a_transaction_larger_than_a_batch_lands_in_one_batch_and_a_rerun_reads_nothing_again(self):
        name = "binlog_batches"
        self.sql(self.source, "DROP TABLE IF EXISTS ticks", "CREATE TABLE ticks (id int PRIMARY KEY, n int)")
        out = Connection("memory", {"store": "out"})
        source = binlog(tables=["ticks"])
        entries, events = [], []
        self.assertTrue(self.run_capture(name, source, out, store=("out", entries)).ok)  # a copy of nothing
        with self.source.begin() as db:
            for key in range(5):
                db.exec_driver_sql(f"INSERT INTO ticks VALUES ({key}, 0)")
        self.sql(self.source, "UPDATE ticks SET n = 1 WHERE id = 0")
        self.sql(self.source, "DELETE FROM ticks WHERE id = 1")
        result = self.run_capture(name, source, out, store=("out", entries), events=events, batch_size=2)
        self.assertTrue(result.ok, result)
        self.assertEqual([event.rows for event in events], [5, 2])
        self.assertEqual([entry.action for entry in entries], ["insert"] * 5 + ["update", "delete"])
        self.assertEqual(entries[-1].before, {"id": 1, "n": 0})
        again = self.run_capture(name, source, out, store=("out", entries), execution="again")
        self.assertTrue(again.ok, again)
        self.assertEqual(len(entries), 7)
        # a following read hands over what it holds once the server's heartbeat says nothing more is coming
        with self.source.connect() as db:
            file, pos = (row[1] for row in db.exec_driver_sql("SHOW STATUS LIKE 'binlog_snapshot_%%'"))
        source = BinlogCaptureSource(binlog(tables=["ticks"]), None)
        stream = source.read(ReadRequest(batch_size=100, follow=True, resume={"file": file, "pos": int(pos)}))
        self.sql(self.source, "INSERT INTO ticks VALUES (9, 9)")
        try:
            first = next(stream)
            self.sql(self.source, "DELETE FROM ticks WHERE id = 9")
            second = next(stream)
        finally:
            stream.close()
            source.close()
        self.assertEqual([(row[0].action, row[0].key) for row in first.rows], [("insert", 9)])
        self.assertEqual([(row[0].action, row[0].key) for row in second.rows], [("delete", 9)])

    def test_each_batch_says_how_many_bytes_of_binlog_are_past_it_across_files(self):
        name = "binlog_lag"
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS ticks",
            "DROP TABLE IF EXISTS noise",
            "CREATE TABLE ticks (id int PRIMARY KEY)",
            "CREATE TABLE noise (id int, pad varchar(100))",
        )
        self.sql(self.replica, "DROP TABLE IF EXISTS ticks", "CREATE TABLE ticks (id int PRIMARY KEY)")
        target = Connection("mariadb", {"url": self.replica_url, "table": "ticks"})
        source = binlog(tables=["ticks"])
        self.assertTrue(self.run_capture(name, source, target).ok)  # a copy of nothing
        # one captured change, about 1.3 MB of binlog the capture leaves out, a new file, another change
        self.sql(self.source, "INSERT INTO ticks VALUES (1)")
        self.sql(self.source, "INSERT INTO noise SELECT seq, repeat('x', 100) FROM seq_1_to_12000")
        self.sql(self.source, "FLUSH BINARY LOGS")
        self.sql(self.source, "INSERT INTO ticks VALUES (2)")
        events = []
        result = self.run_capture(name, source, target, execution="lag", events=events, batch_size=1)
        self.assertTrue(result.ok, result)
        lags = [event.lag for event in events]
        self.assertEqual(len(lags), 2)
        self.assertGreater(lags[0], 1_200_000)  # the noise and the start of the next file
        self.assertLess(lags[1], 10_000)  # at most the replica's own writes, read a second later
        self.assertEqual((result["capture"].lag, result["capture"].lag_max), (lags[1], lags[0]))

        # a user who may not list the binlog files: no lag, said once
        self.sql(
            self.source,
            "DROP USER IF EXISTS 'watcher'@'127.0.0.1'",
            "CREATE USER 'watcher'@'127.0.0.1'",
            "GRANT SELECT, REPLICATION SLAVE ON *.* TO 'watcher'@'127.0.0.1'",
            "INSERT INTO ticks VALUES (3)",
        )
        watcher = sa.engine.make_url(self.url).set(username="watcher").render_as_string(False)
        reader = BinlogCaptureSource(
            Connection("mariadb", {"url": watcher, "capture": "binlog", "tables": ["ticks"]}), None
        )
        resume = positions.load_position(self.replica, f"{name}/capture")
        try:
            with self.assertLogs("pdip.integrator.capture", "WARNING") as logged:
                batches = list(reader.read(ReadRequest(batch_size=1, resume=resume)))
                with reader.engine.connect() as db:
                    self.assertIsNone(reader.behind(reader.log_end(db), resume))  # asked again: not said again
        finally:
            reader.close()
        self.assertEqual([(batch.rows[0][0].key, batch.lag) for batch in batches], [(3, None)])
        self.assertEqual(len(logged.output), 1)
        self.assertIn("no lag is reported", logged.output[0])
        self.assertIn("GRANT BINLOG MONITOR", logged.output[0])

    def test_a_column_added_at_the_source_is_added_at_the_replica_under_schema_evolve(self):
        name = "binlog_evolve"
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS shapes",
            "CREATE TABLE shapes (id int PRIMARY KEY, label varchar(20))",
            "INSERT INTO shapes VALUES (1, 'a')",
        )
        self.sql(
            self.replica, "DROP TABLE IF EXISTS shapes", "CREATE TABLE shapes (id int PRIMARY KEY, label varchar(20))"
        )
        target = Connection("mariadb", {"url": self.replica_url, "table": "shapes"})
        source = binlog(tables=["shapes"])
        self.assertTrue(self.run_capture(name, source, target, schema="evolve").ok)
        self.sql(
            self.source,
            "ALTER TABLE shapes ADD COLUMN sides int",
            "INSERT INTO shapes VALUES (2, 'b', 4)",
            "UPDATE shapes SET label = 'A' WHERE id = 1",
        )
        result = self.run_capture(name, source, target, execution="evolve", schema="evolve")
        self.assertTrue(result.ok, result)
        # typed by its first value (a Python int): entries declare no types
        self.assertEqual(result["capture"].schema_changes, ["added column 'sides' BIGINT"])
        self.assert_same("shapes")

    def test_an_interrupted_copy_continues_after_its_last_key_then_streams_from_the_first_snapshot(self):
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS parts",
            "CREATE TABLE parts (id int PRIMARY KEY, n int)",
            "INSERT INTO parts VALUES (1, 1), (2, 2), (3, 3)",
        )
        source = BinlogCaptureSource(binlog(tables=["parts"]), None)
        try:
            first = next(source.read(ReadRequest(batch_size=2)))
            self.assertEqual([entry.key for entry in first.rows[0][:1]], [1])
            self.assertEqual(first.position["snapshot"], {"table": "parts", "after": [2]})
            self.sql(self.source, "UPDATE parts SET n = 30 WHERE id = 3", "INSERT INTO parts VALUES (4, 4)")
            rest = list(source.read(ReadRequest(batch_size=10, resume=first.position)))
        finally:
            source.close()
        entries = [row[0] for batch in rest for row in batch.rows]
        self.assertEqual(
            [(entry.action, entry.key) for entry in entries],
            [("insert", 3), ("insert", 4), ("update", 3), ("insert", 4)],  # the new snapshot, then the stream
        )
        self.assertEqual(entries[0].after["n"], 30)
        self.assertNotIn("snapshot", rest[-1].position)

    # -- refusals, before any data moves --

    def refused(self, connection: Connection, *words: str) -> None:
        with self.assertRaises(CaptureError) as raised:
            BinlogCaptureSource(connection, None).close()
        for word in words:
            self.assertIn(word, str(raised.exception))

    def test_what_cannot_be_captured_is_refused_naming_the_setting_and_the_fix(self):
        self.sql(
            self.source,
            "DROP TABLE IF EXISTS keyless",
            "CREATE TABLE keyless (id int, note text)",
            "DROP USER IF EXISTS 'reader'@'127.0.0.1'",
            "CREATE USER 'reader'@'127.0.0.1'",
            "GRANT SELECT ON *.* TO 'reader'@'127.0.0.1'",
        )
        self.refused(Connection("sqlite", {"url": "sqlite://", "capture": "binlog", "tables": ["t"]}), "sqlite")
        self.refused(binlog(), "tables:")
        self.refused(binlog(tables=["nowhere"]), "'nowhere' does not exist")
        self.refused(binlog(tables=["keyless"]), "tables:", "no primary key", "add a primary key")
        reader = sa.engine.make_url(self.url).set(username="reader").render_as_string(False)
        self.refused(
            Connection("mariadb", {"url": reader, "capture": "binlog", "tables": ["keyless"]}),
            "url:",
            "reader",
            "GRANT REPLICATION SLAVE",
        )
        for variable, value in (
            ("binlog_format", "STATEMENT"),
            ("binlog_row_image", "MINIMAL"),
            ("binlog_row_metadata", "MINIMAL"),
        ):
            with self.subTest(variable=variable):
                self.sql(self.source, f"SET GLOBAL {variable} = {value}")
                try:
                    self.refused(binlog(tables=["keyless"]), f"{variable} = ", f"it is {value}", "SET GLOBAL")
                finally:
                    self.sql(self.source, f"SET GLOBAL {variable} = {'ROW' if variable == 'binlog_format' else 'FULL'}")
        # the shared server has no binlog (it must not be reconfigured): a run fails with the reason, no traceback
        shared = Connection("mariadb", {"url": mysql_url(), "capture": "binlog", "tables": ["keyless"]})
        result = self.run_capture("binlog_off", shared, Connection("memory", {"store": "out"}), store=("out", []))
        self.assertFalse(result.ok)
        self.assertIn("log_bin = ON", str(result["capture"].error))
        self.assertIn("--log-bin", str(result["capture"].error))

    def test_a_position_the_binlog_no_longer_holds_is_refused_with_the_way_out(self):
        self.sql(self.source, "DROP TABLE IF EXISTS gone", "CREATE TABLE gone (id int PRIMARY KEY)")
        with self.source.connect() as db:
            old = db.exec_driver_sql("SHOW MASTER STATUS").one()[0]  # the file written now
            db.exec_driver_sql("FLUSH BINARY LOGS")
            now = db.exec_driver_sql("SHOW MASTER STATUS").one()[0]
            self.assertNotEqual(old, now)
            db.exec_driver_sql(f"PURGE BINARY LOGS TO '{now}'")
        source = BinlogCaptureSource(binlog(tables=["gone"]), None)
        try:
            with self.assertRaises(CaptureError) as raised:
                list(source.read(ReadRequest(batch_size=10, resume={"file": old, "pos": 4})))
        finally:
            source.close()
        self.assertIn(f"stored position {old}:4", str(raised.exception))
        self.assertIn("start the replica over", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
