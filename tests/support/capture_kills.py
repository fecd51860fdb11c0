"""What the capture kill tests share: `pdip run` in a process group of its own, a writer of
changes that each set a `version` of their own, SIGKILLs at random moments, and the check that
the replica equals the source with no change applied twice.

    class MyKills(CaptureKills, unittest.TestCase):
        def setUp(self):
            self.start_kills("pdip-my-kills-", operation_yaml)   # the folder, the operation file
        ...
        self.finished(self.pdip())                                # the snapshot
        self.kill_while_writing(self.source, Changes(...), kills=3, between=(1.2, 2.5))
        self.finished(self.pdip())                                # bounded: the rest
        stored = self.assert_replica_is_the_source(self.source, self.replica, keys)

The replica's `written` table (filled by a trigger) holds each version written; a version
there twice is a change applied twice.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Changes:
    """`count` changes on `keys` keys in transactions of `per_transaction`: 60% updates, 20%
    deletes, 20% inserts (an upsert: the key may be there); each statement a format string of
    `key` and `made` (how many changes came before)."""

    count: int
    keys: int
    per_transaction: int
    update: str
    delete: str
    insert: str

    def write(self, engine: sa.Engine) -> None:
        made = 0
        chooser = random.Random(7)
        with engine.connect() as db:
            while made < self.count:
                with db.begin():
                    for _ in range(self.per_transaction):
                        key, what = chooser.randrange(self.keys), chooser.random()
                        statement = self.update if what < 0.6 else self.delete if what < 0.8 else self.insert
                        db.exec_driver_sql(statement.format(key=key, made=made))
                        made += 1
                time.sleep(0.004)


class CaptureKills:
    """A mixin for a `unittest.TestCase` that kills a capturing `pdip run --follow`."""

    def start_kills(self, prefix: str, operation: str) -> None:
        self.random = random.Random(int(os.environ.get("PDIP_FAULTS_SEED", "20261206")))
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.operation = self.folder / "capture.yml"
        self.operation.write_text(operation)

    def pdip(self, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pdip", "run", str(self.operation), "--no-progress", *arguments],
            cwd=self.folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def finished(self, process: subprocess.Popen) -> None:
        _, errors = process.communicate(timeout=120)
        self.assertEqual(process.returncode, 0, errors.decode())

    def kill_while_writing(
        self,
        source: sa.Engine,
        changes: Changes,
        kills: int,
        between: tuple[float, float],
        after_each: Callable[[], None] = lambda: None,
    ) -> None:
        """`changes` written into `source` while a following capture is started and SIGKILLed
        `kills` times, each after a random time `between` (seconds); `after_each` kill."""
        writer = threading.Thread(target=changes.write, args=(source,))
        writer.start()
        try:
            for _ in range(kills):
                capture = self.pdip("--follow")
                time.sleep(self.random.uniform(*between))
                self.assertIsNone(capture.poll(), capture.stderr.read().decode() if capture.poll() else "")
                os.killpg(capture.pid, signal.SIGKILL)
                capture.communicate(timeout=30)
                after_each()
        finally:
            writer.join()

    def assert_replica_is_the_source(self, source: sa.Engine, replica: sa.Engine, keys: int) -> str:
        """The replica's `items` equal the source's, no version was written twice, the snapshot
        and the stream both were; the position the replica stored."""
        with source.connect() as db:
            expected = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
        with replica.connect() as db:
            found = db.exec_driver_sql("SELECT * FROM items ORDER BY id").all()
            twice = db.exec_driver_sql("SELECT version FROM written GROUP BY version HAVING count(*) > 1").all()
            written = db.exec_driver_sql("SELECT count(*) FROM written").scalar()
            stored = db.exec_driver_sql("SELECT position FROM pdip_target_position").scalar()
        self.assertEqual([tuple(row) for row in found], [tuple(row) for row in expected])
        self.assertEqual(twice, [])
        self.assertGreater(written, keys)  # the snapshot and the stream both went through the trigger
        return stored
