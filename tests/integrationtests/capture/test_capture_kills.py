"""`pdip run --follow` capturing PostgreSQL into a PostgreSQL replica, SIGKILLed three times.

A writer makes CHANGES inserts, updates and deletes on 10,000 keys, in transactions, while the
capture runs; the capture process group is killed at random moments and started again. Then a
bounded run takes the rest. The replica equals the source row by row, and no change was applied
twice: every change gives its row a `version` of its own (one sequence), and a trigger on the
replica records each version written, which must appear at most once.
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

from tests.integrationtests.capture.test_postgres_capture import REPLICA_DATABASE
from tests.support.logical_postgres import logical_postgres_url

ROOT = Path(__file__).resolve().parents[3]
KEYS = 10_000
CHANGES = 20_000
PER_TRANSACTION = 40
KILLS = 3
NAME = "kill_capture"


class CaptureKillTests(unittest.TestCase):
    def setUp(self):
        self.random = random.Random(int(os.environ.get("PDIP_FAULTS_SEED", "20261206")))
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-capture-kills-"))
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
        self.operation = self.folder / "capture.yml"
        self.operation.write_text(
            textwrap.dedent(f"""\
                name: capture
                integrations:
                  - name: items
                    mode: changes
                    batch_size: 2000
                    source: {{kind: postgresql, url: "{url}", capture: logical, slot: {NAME},
                             publication: {NAME}, tables: [items], create: true}}
                    target: {{kind: postgresql, url: "{replica_url}", table: items}}
                """)
        )

    def tearDown(self):
        self.source.dispose()
        self.replica.dispose()

    def pdip(self, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pdip", "run", str(self.operation), "--no-progress", *arguments],
            cwd=ROOT,
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
                                f"UPDATE items SET version = nextval('versions'), body = 'u' || {made} WHERE id = {key}"
                            )
                        elif what < 0.8:
                            db.exec_driver_sql(f"DELETE FROM items WHERE id = {key}")
                        else:
                            db.exec_driver_sql(
                                f"INSERT INTO items VALUES ({key}, nextval('versions'), 'i' || {made}) ON CONFLICT (id) "
                                "DO UPDATE SET version = excluded.version, body = excluded.body"
                            )
                        made += 1
                time.sleep(0.004)

    def finished(self, process: subprocess.Popen) -> None:
        _, errors = process.communicate(timeout=120)
        self.assertEqual(process.returncode, 0, errors.decode())

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
        writer = threading.Thread(target=self.write_changes)
        writer.start()
        try:
            for _ in range(KILLS):
                capture = self.pdip("--follow")
                time.sleep(self.random.uniform(1.2, 2.5))
                self.assertIsNone(capture.poll(), capture.stderr.read().decode() if capture.poll() else "")
                os.killpg(capture.pid, signal.SIGKILL)
                capture.communicate(timeout=30)
                self.wait_for_the_slot_to_be_free()
        finally:
            writer.join()
        self.finished(self.pdip())  # bounded: what was committed before it started

        with self.source.connect() as db:
            expected = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
            confirmed = db.exec_driver_sql(
                f"SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = '{NAME}'"
            ).scalar()
        with self.replica.connect() as db:
            found = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
            twice = db.exec_driver_sql("SELECT version FROM written GROUP BY version HAVING count(*) > 1").all()
            written = db.exec_driver_sql("SELECT count(*) FROM written").scalar()
            stored = db.exec_driver_sql("SELECT position FROM pdip_target_position").scalar()
        self.assertEqual([tuple(row) for row in found], [tuple(row) for row in expected])
        self.assertEqual(twice, [])
        self.assertGreater(written, KEYS)  # the snapshot and the stream both went through the trigger
        self.assertIn(str(int(confirmed)), stored)  # the slot was told what the replica holds


if __name__ == "__main__":
    unittest.main()
