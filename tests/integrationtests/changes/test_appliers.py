"""A change stream applied by a process per partition (the process executor's appliers), against
real tansu and PostgreSQL: every partition written by its own process with its position stored
with its rows, an applier killed mid-stream failing the run (then a resume finishing it with
nothing applied twice), and an applier's error reaching the result with its traceback."""

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.conversion.tagged import loads
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
from pdip.integrator.adapters.sql import positions
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch
from pdip.integrator.events import BatchWritten
from tests.integrationtests.changes.support import history
from tests.integrationtests.kafka.support import Context, create_topic, kafka, topic_name
from tests.support.servers import kafka_bootstrap, postgres_url

KEYS, UPDATES, PARTITIONS = 300, 2_700, 3


class AppliersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = kafka_bootstrap()
        cls.url = postgres_url()
        cls.engine = sa.create_engine(cls.url)
        cls.topic = create_topic(cls.bootstrap, topic_name("appliers"), partitions=PARTITIONS)
        sender = KafkaChangesTarget(kafka(cls.bootstrap, cls.topic), Context())
        sender.write(entries_batch(history(KEYS, UPDATES)))
        sender.commit()
        sender.close()

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()

    def setUp(self):
        self.table = f"appliers_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id integer primary key, version integer)")
        self.addCleanup(self.drop)
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-appliers-"))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.children: set[str] = set()
        self.integrator.subscribe(BatchWritten, self.seen)

    def drop(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")

    def seen(self, event):
        self.children.update(child.name for child in multiprocessing.active_children())

    def operation(self, table: str | None = None) -> Operation:
        integration = Integration(
            "apply",
            source=kafka(self.bootstrap, self.topic, group=f"{self.table}-group"),
            target=Connection("postgresql", {"url": self.url, "table": table or self.table}),
            mode="changes",
            parallelism=PARTITIONS,
            batch_size=250,
        )
        return Operation(f"appliers-{self.table}", [integration])

    def replica(self) -> dict[int, int]:
        with self.engine.connect() as connection:
            return dict(connection.exec_driver_sql(f"SELECT id, version FROM {self.table}").all())

    def stored_positions(self) -> dict[str, dict]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(positions.POSITIONS.c.slot, positions.POSITIONS.c.position).where(
                    positions.POSITIONS.c.slot.like(f"appliers-{self.table}/apply/%")
                )
            ).all()
        return {slot.rsplit("/", 1)[1]: loads(position) for slot, position in rows}

    def test_each_partition_is_applied_by_its_own_process_with_its_position_stored_with_its_rows(self):
        result = self.integrator.integrate(self.operation())
        self.assertTrue(result.ok, result["apply"].error)
        self.assertEqual((result["apply"].rows_read, result["apply"].rows_written), (KEYS + UPDATES, KEYS + UPDATES))
        self.assertEqual(self.replica(), {k: UPDATES // KEYS for k in range(KEYS)})
        appliers = {name for name in self.children if name.startswith("pdip apply: applier ")}
        self.assertEqual(
            appliers, {f"pdip apply: applier {index} of {PARTITIONS}" for index in range(1, PARTITIONS + 1)}
        )
        self.assertFalse([name for name in self.children if "reader" in name])
        stored = self.stored_positions()
        self.assertEqual(len(stored), PARTITIONS, stored)  # a slot per partition
        offsets = {
            int(number): offset for position in stored.values() for number, offset in position[self.topic].items()
        }
        self.assertEqual(sum(offsets.values()), KEYS + UPDATES)  # each partition's slot at its end
        checkpoint = self.integrator.state.checkpoint(f"appliers-{self.table}", "apply")
        self.assertTrue(checkpoint.finished)
        self.assertEqual(len(checkpoint.positions), PARTITIONS)

    def test_a_killed_applier_fails_the_run_and_a_resume_applies_the_rest_once(self):
        killed = threading.Event()

        def kill_one_applier(event):
            if not killed.is_set():
                for child in multiprocessing.active_children():
                    if child.name == "pdip apply: applier 2 of 3":
                        os.kill(child.pid, signal.SIGKILL)
                        killed.set()

        self.integrator.subscribe(BatchWritten, kill_one_applier)
        first = self.integrator.integrate(self.operation())
        self.assertTrue(killed.is_set())
        self.assertEqual(first.status, "failed")
        self.assertIn("was killed (signal 9, SIGKILL) before it finished", first["apply"].error)
        self.assertFalse(multiprocessing.active_children(), "the other appliers are ended too")
        self.assertLess(len(self.replica()), KEYS + 1)

        resumed = self.integrator.integrate(self.operation(), resume=True)
        self.assertTrue(resumed.ok, resumed["apply"].error)
        self.assertEqual(resumed.execution_id, first.execution_id)
        self.assertEqual(self.replica(), {k: UPDATES // KEYS for k in range(KEYS)})
        # A batch the killed applier committed but could not report is not counted by the first run,
        # and the resumed one starts after it (its position is stored with its rows): never twice.
        self.assertLessEqual(first["apply"].rows_written + resumed["apply"].rows_written, KEYS + UPDATES)
        ends = [offset for position in self.stored_positions().values() for offset in position[self.topic].values()]
        self.assertEqual(sum(ends), KEYS + UPDATES)

    def test_an_error_in_an_applier_reaches_the_result_with_its_traceback(self):
        result = self.integrator.integrate(self.operation(table=f"{self.table}_missing"))
        self.assertEqual(result.status, "failed")
        error = result["apply"].error
        self.assertRegex(error, r"the applier \d of 3 failed")
        self.assertIn("Traceback", error)
        self.assertIn(f"table '{self.table}_missing' does not exist", error)

    def test_a_followed_stream_applied_by_appliers_ends_on_ctrl_c_with_no_process_left(self):
        root = Path(tempfile.mkdtemp(prefix="pdip-appliers-follow-"))
        (root / "apply.yml").write_text(
            textwrap.dedent(f"""\
                name: follow-{self.table}
                integrations:
                  - name: apply
                    mode: changes
                    parallelism: {PARTITIONS}
                    batch_size: 250
                    source:
                      kind: kafka
                      bootstrap_servers: "{self.bootstrap}"
                      topic: {self.topic}
                      group: {self.table}-follow
                      poll_timeout: 0.3
                      options: {{session.timeout.ms: 6000, heartbeat.interval.ms: 500}}
                    target: {{kind: postgresql, url: "{self.url}", table: {self.table}}}
                """),
            encoding="utf-8",
        )
        with open(root / "run.log", "w") as log:
            run = subprocess.Popen(
                [sys.executable, "-m", "pdip", "run", str(root / "apply.yml"), "--follow", "--no-progress"],
                cwd=Path(__file__).resolve().parents[3],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        expected = {k: UPDATES // KEYS for k in range(KEYS)}
        deadline = time.monotonic() + 90
        while self.replica() != expected and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        self.assertEqual(self.replica(), expected, (root / "run.log").read_text())
        self.assertIsNone(run.poll(), "a followed stream keeps running")
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(30)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
        self.assertEqual(run.returncode, 130, (root / "run.log").read_text())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(run.pid, 0)  # a process of the run's group still there?
            except ProcessLookupError:
                break
            time.sleep(0.1)
        with self.assertRaises(ProcessLookupError, msg="an applier outlived its run"):
            os.killpg(run.pid, 0)


if __name__ == "__main__":
    unittest.main()
