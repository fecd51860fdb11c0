"""`pdip run --follow` capturing MariaDB's binlog into a MariaDB replica, SIGKILLed twice.

A writer makes CHANGES inserts, updates and deletes on KEYS keys, in transactions, while the
capture runs; the capture process group is killed at random moments and started again. Then a
bounded run takes the rest. The replica equals the source row by row, and no change was applied
twice: every change gives its row a `version` of its own (one sequence), and triggers on the
replica record each version written, which must appear at most once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

import sqlalchemy as sa

from tests.support.binlog_mariadb import binlog_mariadb_url

ROOT = Path(__file__).resolve().parents[3]
REPLICA_DATABASE = "pdip_binlog_kills"
KEYS = 1_000
CHANGES = 2_000
PER_TRANSACTION = 25
KILLS = 2


class BinlogKillTests(unittest.TestCase):
    def setUp(self):
        self.random = random.Random(int(os.environ.get("PDIP_FAULTS_SEED", "20261206")))
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-binlog-kills-"))
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
        self.operation = self.folder / "capture.yml"
        self.operation.write_text(
            textwrap.dedent(f"""\
                name: capture
                integrations:
                  - name: items
                    mode: changes
                    batch_size: 500
                    source: {{kind: mariadb, url: "{url}", capture: binlog, tables: [items]}}
                    target: {{kind: mariadb, url: "{replica_url}", table: items}}
                """)
        )

    def tearDown(self):
        self.source.dispose()
        self.replica.dispose()

    def pdip(self, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pdip", "run", str(self.operation), "--no-progress", *arguments],
            cwd=self.folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def write_changes(self) -> None:
        """CHANGES changes in transactions of PER_TRANSACTION: updates, deletes, inserts of the
        keys that are gone; each sets a version of its own."""
        made = 0
        chooser = random.Random(7)
        with self.source.connect() as db:
            while made < CHANGES:
                with db.begin():
                    for _ in range(PER_TRANSACTION):
                        key, what = chooser.randrange(KEYS), chooser.random()
                        if what < 0.6:
                            db.exec_driver_sql(
                                f"UPDATE items SET version = NEXTVAL(versions), body = 'u{made}' WHERE id = {key}"
                            )
                        elif what < 0.8:
                            db.exec_driver_sql(f"DELETE FROM items WHERE id = {key}")
                        else:
                            db.exec_driver_sql(
                                f"INSERT INTO items VALUES ({key}, NEXTVAL(versions), 'i{made}') ON DUPLICATE KEY "
                                "UPDATE version = VALUES(version), body = VALUES(body)"
                            )
                        made += 1
                time.sleep(0.004)

    def finished(self, process: subprocess.Popen) -> None:
        _, errors = process.communicate(timeout=120)
        self.assertEqual(process.returncode, 0, errors.decode())

    def test_killed_twice_the_replica_equals_the_source_and_nothing_applied_twice(self):
        self.finished(self.pdip())  # the snapshot of the KEYS rows and its binlog position
        writer = threading.Thread(target=self.write_changes)
        writer.start()
        try:
            for _ in range(KILLS):
                capture = self.pdip("--follow")
                time.sleep(self.random.uniform(1.0, 2.0))
                self.assertIsNone(capture.poll(), capture.stderr.read().decode() if capture.poll() else "")
                os.killpg(capture.pid, signal.SIGKILL)
                capture.communicate(timeout=30)
        finally:
            writer.join()
        self.finished(self.pdip())  # bounded: what was committed before it started

        with self.source.connect() as db:
            expected = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
        with self.replica.connect() as db:
            found = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
            twice = db.exec_driver_sql("SELECT version FROM written GROUP BY version HAVING count(*) > 1").all()
            written = db.exec_driver_sql("SELECT count(*) FROM written").scalar()
            stored = db.exec_driver_sql("SELECT position FROM pdip_target_position").scalar()
        self.assertEqual([tuple(row) for row in found], [tuple(row) for row in expected])
        self.assertEqual(twice, [])
        self.assertGreater(written, KEYS)  # the snapshot and the stream both went through the triggers
        self.assertIn('"file"', stored)


if __name__ == "__main__":
    unittest.main()
