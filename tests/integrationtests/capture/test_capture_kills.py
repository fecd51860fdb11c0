"""`pdip run --follow` capturing PostgreSQL into a PostgreSQL replica, SIGKILLed three times.

A writer makes CHANGES inserts, updates and deletes on 10,000 keys, in transactions, while the
capture runs; the capture process group is killed at random moments and started again. Then a
bounded run takes the rest. The replica equals the source row by row, and no change was applied
twice: every change gives its row a `version` of its own (one sequence), and a trigger on the
replica records each version written, which must appear at most once.
"""

from __future__ import annotations

import json
import textwrap
import time
import unittest

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


if __name__ == "__main__":
    unittest.main()
