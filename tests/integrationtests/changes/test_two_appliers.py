"""Two `pdip run --follow` appliers share a consumer group; one is killed; the other takes over
its partitions and the replica ends exactly as the change log says."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip.integrator import Connection
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
from pdip.integrator.changes import entries_batch
from pdip.tracking import ChangeLogEntry
from tests.integrationtests.kafka.support import Context
from tests.support import servers

ROOT = Path(__file__).resolve().parents[3]
KEYS, UPDATES, PARTITIONS = 400, 3600, 4


def history(first: int, last: int) -> list[ChangeLogEntry]:
    """Changes number first .. last-1 of a history where change n sets key n % KEYS to version n."""
    return [
        ChangeLogEntry(
            "insert" if n < KEYS else "update", entity="items", key=n % KEYS, after={"id": n % KEYS, "version": n}
        )
        for n in range(first, last)
    ]


class TwoAppliersTest(unittest.TestCase):
    def setUp(self):
        self.bootstrap, self.url = servers.kafka_bootstrap(), servers.postgres_url()
        suffix = uuid.uuid4().hex[:8]
        self.topic, self.table = f"pdip-it-pair-{suffix}", f"pdip_it_pair_{suffix}"
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        metadata = sa.MetaData()
        self.replica = sa.Table(
            self.table,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("version", sa.Integer),
        )
        metadata.create_all(self.engine)
        self.addCleanup(self.replica.drop, self.engine)
        self.root = Path(tempfile.mkdtemp(prefix="pdip-pair-"))
        (self.root / "apply.yml").write_text(
            textwrap.dedent(f"""\
                name: apply-{suffix}
                executor: inline
                integrations:
                  - name: apply
                    mode: changes
                    batch_size: 100
                    source:
                      kind: kafka
                      bootstrap_servers: "{self.bootstrap}"
                      topic: {self.topic}
                      group: apply-{suffix}
                      poll_timeout: 0.3
                      options: {{session.timeout.ms: 6000, heartbeat.interval.ms: 500}}
                    target: {{kind: postgresql, url: "{self.url}", table: {self.table}}}
                """),
            encoding="utf-8",
        )

    def send(self, entries: list[ChangeLogEntry], create: bool = False) -> None:
        sender = KafkaChangesTarget(
            Connection("kafka", {"bootstrap_servers": self.bootstrap, "topic": self.topic, "partitions": PARTITIONS}),
            Context(),
        )
        sender.prepare(["entry"], create=create, truncate=False)
        sender.write(entries_batch(entries))
        sender.commit()
        sender.close()

    def applier(self, name: str) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "w") as log:  # the child keeps its own copy of the handle
            return subprocess.Popen(
                [sys.executable, "-m", "pdip", "run", str(self.root / "apply.yml"), "--follow", "--no-progress"],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def replica_rows(self) -> dict[int, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(sa.select(self.replica.c.id, self.replica.c.version)).all())

    def wait_for(self, expected: dict[int, int], seconds: float) -> dict[int, int]:
        deadline = time.monotonic() + seconds
        rows = self.replica_rows()
        while rows != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = self.replica_rows()
        return rows

    def test_the_survivor_takes_over_the_killed_appliers_partitions_and_the_replica_ends_exact(self):
        self.send(history(0, KEYS + UPDATES // 2), create=True)
        first, second = self.applier("first"), self.applier("second")
        appliers = [first, second]
        try:
            deadline = time.monotonic() + 60
            while len(self.replica_rows()) < KEYS // 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            self.send(history(KEYS + UPDATES // 2, KEYS + UPDATES))
            expected = {key: KEYS + UPDATES - KEYS + key for key in range(KEYS)}
            rows = self.wait_for(expected, 90)
            self.assertEqual(first.returncode, -signal.SIGKILL)
            self.assertIsNone(second.poll(), (self.root / "second.log").read_text())
            self.assertEqual(rows, expected)
        finally:
            for process in appliers:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGINT)
                    try:
                        process.wait(20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait(5)
        self.assertEqual(second.returncode, 130, (self.root / "second.log").read_text())


if __name__ == "__main__":
    unittest.main()
