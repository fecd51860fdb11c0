"""`pdip run --follow` capturing PostgreSQL into a PostgreSQL replica, SIGKILLed three times.

A writer makes CHANGES inserts, updates and deletes on 10,000 keys, in transactions, while the
capture runs; the capture process group is killed at random moments and started again. Then a
bounded run takes the rest. The replica equals the source row by row, and no change was applied
twice: every change gives its row a `version` of its own (one sequence), and a trigger on the
replica records each version written, which must appear at most once.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
import unittest
from pathlib import Path

import sqlalchemy as sa

from tests.integrationtests.capture.test_postgres_capture import REPLICA_DATABASE
from tests.support.capture_kills import CaptureKills, Changes
from tests.support.logical_postgres import logical_postgres_url

KEYS = 10_000
CHANGES = Changes(
    count=20_000,
    keys=KEYS,
    per_transaction=40,
    update="UPDATE items SET version = nextval('versions'), body = 'u' || {made} WHERE id = {key}",
    delete="DELETE FROM items WHERE id = {key}",
    insert="INSERT INTO items VALUES ({key}, nextval('versions'), 'i' || {made}) ON CONFLICT (id) "
    "DO UPDATE SET version = excluded.version, body = excluded.body",
)
KILLS = 3
NAME = "kill_capture"


class CaptureKillTests(CaptureKills, unittest.TestCase):
    def setUp(self):
        url = logical_postgres_url()
        self.source = sa.create_engine(url)
        with self.source.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            if not db.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{REPLICA_DATABASE}'").first():
                db.exec_driver_sql(f"CREATE DATABASE {REPLICA_DATABASE}")
        replica_url = sa.engine.make_url(url).set(database=REPLICA_DATABASE).render_as_string(False)
        self.replica = sa.create_engine(replica_url)
        with self.source.begin() as db:
            db.exec_driver_sql(
                f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{NAME}'"
            )
            for statement in (
                "DROP TABLE IF EXISTS items",
                f"DROP PUBLICATION IF EXISTS {NAME}",
                "DROP SEQUENCE IF EXISTS versions",
                "CREATE SEQUENCE versions",
                "CREATE TABLE items (id int PRIMARY KEY, version bigint NOT NULL, body text)",
                f"INSERT INTO items SELECT k, nextval('versions'), 'v' || k FROM generate_series(0, {KEYS - 1}) k",
            ):
                db.exec_driver_sql(statement)
        with self.replica.begin() as db:
            for statement in (
                "DROP TABLE IF EXISTS items",
                "DROP TABLE IF EXISTS written",
                "DROP TABLE IF EXISTS pdip_target_position",
                "CREATE TABLE items (id int PRIMARY KEY, version bigint NOT NULL, body text)",
                "CREATE TABLE written (version bigint NOT NULL)",
                "CREATE OR REPLACE FUNCTION remember() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO written VALUES (NEW.version); RETURN NEW; END $$",
                "CREATE TRIGGER remember AFTER INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION remember()",
            ):
                db.exec_driver_sql(statement)
        self.start_kills(
            "pdip-capture-kills-",
            textwrap.dedent(f"""\
                name: capture
                integrations:
                  - name: items
                    mode: changes
                    batch_size: 2000
                    source: {{kind: postgresql, url: "{url}", capture: logical, slot: {NAME},
                             publication: {NAME}, tables: [items], create: true}}
                    target: {{kind: postgresql, url: "{replica_url}", table: items}}
                """),
        )

    def tearDown(self):
        self.source.dispose()
        self.replica.dispose()

    def wait_for_the_slot_to_be_free(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self.source.connect() as db:
                active = db.exec_driver_sql(
                    f"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{NAME}'"
                ).scalar()
            if active is None:
                return
            time.sleep(0.05)
        self.fail("the killed capture's slot stayed in use")

    def test_killed_three_times_the_replica_equals_the_source_and_nothing_applied_twice(self):
        self.finished(self.pdip())  # the slot, the publication and the snapshot of the 10,000 rows
        self.kill_while_writing(
            self.source, CHANGES, KILLS, between=(1.2, 2.5), after_each=self.wait_for_the_slot_to_be_free
        )
        self.finished(self.pdip())  # bounded: what was committed before it started

        stored = self.assert_replica_is_the_source(self.source, self.replica, KEYS)
        with self.source.connect() as db:
            confirmed = db.exec_driver_sql(
                f"SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = '{NAME}'"
            ).scalar()
        # the slot was told at least what the replica holds; it may be further on: once everything
        # received is confirmed, psycopg2 answers the server's keepalive with the log's end, past
        # WAL that holds no change of the table (a killed writer's rolled-back work, the server's own)
        self.assertGreaterEqual(int(confirmed), json.loads(stored)["lsn"])

    def test_a_followed_capture_waits_without_cpu_and_ctrl_c_stops_it_at_once_with_exit_130(self):
        self.finished(self.pdip())  # the slot, the publication and the snapshot of the 10,000 rows
        capture = self.pdip("--follow")
        with self.source.begin() as db:
            db.exec_driver_sql("UPDATE items SET body = 'seen' WHERE id < 100")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.seen() < 100:
            time.sleep(0.05)
        self.assertEqual(self.seen(), 100)
        time.sleep(0.5)  # all it read is written: it waits for news, as a followed capture mostly does
        waited = process_cpu(capture.pid)
        time.sleep(2)
        # it asked the server for an answer on every wait, and the answer woke it: 0.7 s of 2
        self.assertLess(process_cpu(capture.pid) - waited, 0.2)
        asked = time.monotonic()
        os.killpg(capture.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground group
        _, errors = capture.communicate(timeout=60)
        self.assertEqual(capture.returncode, 130, errors.decode())
        self.assertLess(time.monotonic() - asked, 2.0)  # it waited 2 s for its reading thread
        self.wait_for_the_slot_to_be_free()
        with self.replica.connect() as db:
            stored = json.loads(db.exec_driver_sql("SELECT position FROM pdip_target_position").scalar())["lsn"]
        with self.source.connect() as db:
            confirmed = db.exec_driver_sql(
                f"SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = '{NAME}'"
            ).scalar()
        self.assertGreaterEqual(int(confirmed), stored)  # what the replica holds was confirmed
        self.finished(self.pdip())  # a bounded run after it finds nothing to apply twice
        self.assertEqual(self.seen(), 100)

    def seen(self) -> int:
        with self.replica.connect() as db:
            return db.exec_driver_sql("SELECT count(*) FROM items WHERE body = 'seen'").scalar()


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) process `pid` spent so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    unittest.main()
