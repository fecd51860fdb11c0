"""`pdip run --follow` capturing MariaDB's binlog into a MariaDB replica, SIGKILLed twice.

A writer makes CHANGES inserts, updates and deletes on KEYS keys, in transactions, while the
capture runs; the capture process group is killed at random moments and started again. Then a
bounded run takes the rest. The replica equals the source row by row, and no change was applied
twice: every change gives its row a `version` of its own (one sequence), and triggers on the
replica record each version written, which must appear at most once.
"""

from __future__ import annotations

import textwrap
import unittest

import sqlalchemy as sa

from tests.support.binlog_mariadb import binlog_mariadb_url
from tests.support.capture_kills import CaptureKills, Changes

REPLICA_DATABASE = "pdip_binlog_kills"
KEYS = 1_000
CHANGES = Changes(
    count=2_000,
    keys=KEYS,
    per_transaction=25,
    update="UPDATE items SET version = NEXTVAL(versions), body = 'u{made}' WHERE id = {key}",
    delete="DELETE FROM items WHERE id = {key}",
    insert="INSERT INTO items VALUES ({key}, NEXTVAL(versions), 'i{made}') ON DUPLICATE KEY "
    "UPDATE version = VALUES(version), body = VALUES(body)",
)
KILLS = 2


class BinlogKillTests(CaptureKills, unittest.TestCase):
    def setUp(self):
        url = binlog_mariadb_url()
        self.source = sa.create_engine(url)
        replica_url = sa.engine.make_url(url).set(database=REPLICA_DATABASE).render_as_string(False)
        self.replica = sa.create_engine(replica_url)
        with self.source.begin() as db:
            for statement in (
                f"DROP DATABASE IF EXISTS {REPLICA_DATABASE}",
                f"CREATE DATABASE {REPLICA_DATABASE}",
                "DROP TABLE IF EXISTS items",
                "DROP SEQUENCE IF EXISTS versions",
                "CREATE SEQUENCE versions",
                "CREATE TABLE items (id int PRIMARY KEY, version bigint NOT NULL, body varchar(20))",
                f"INSERT INTO items SELECT seq, NEXTVAL(versions), concat('v', seq) FROM seq_0_to_{KEYS - 1}",
            ):
                db.exec_driver_sql(statement)
        with self.replica.begin() as db:
            for statement in (
                "CREATE TABLE items (id int PRIMARY KEY, version bigint NOT NULL, body varchar(20))",
                "CREATE TABLE written (version bigint NOT NULL)",
                "CREATE TRIGGER inserted AFTER INSERT ON items FOR EACH ROW INSERT INTO written VALUES (NEW.version)",
                "CREATE TRIGGER updated AFTER UPDATE ON items FOR EACH ROW INSERT INTO written VALUES (NEW.version)",
            ):
                db.exec_driver_sql(statement)
        self.start_kills(
            "pdip-binlog-kills-",
            textwrap.dedent(f"""\
                name: capture
                integrations:
                  - name: items
                    mode: changes
                    batch_size: 500
                    source: {{kind: mariadb, url: "{url}", capture: binlog, tables: [items]}}
                    target: {{kind: mariadb, url: "{replica_url}", table: items}}
                """),
        )

    def tearDown(self):
        self.source.dispose()
        self.replica.dispose()

    def test_killed_twice_the_replica_equals_the_source_and_nothing_applied_twice(self):
        self.finished(self.pdip())  # the snapshot of the KEYS rows and its binlog position
        self.kill_while_writing(self.source, CHANGES, KILLS, between=(1.0, 2.0))
        self.finished(self.pdip())  # bounded: what was committed before it started

        stored = self.assert_replica_is_the_source(self.source, self.replica, KEYS)
        self.assertIn('"file"', stored)


if __name__ == "__main__":
    unittest.main()
