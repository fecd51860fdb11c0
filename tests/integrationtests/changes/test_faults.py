"""Faults in a change stream: the applying process killed with SIGKILL mid-stream, then resumed
(nothing lost, nothing applied twice), and a broker that goes away while the integrator writes
to it (the run fails clearly and its checkpoint stays at the last confirmed batch)."""

import os
import shutil
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

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
from pdip.integrator.adapters.sql import positions
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch
from pdip.integrator.events import BatchWritten
from tests.integrationtests.changes.support import history
from tests.integrationtests.kafka.support import FAST_GROUP, Context
from tests.support import servers
from tests.support.kafka_broker import KafkaBroker

ROOT = Path(__file__).resolve().parents[3]
KEYS, UPDATES = 600, 2400

# The applying process: the same operation the test resumes, run until it is killed.
CHILD = textwrap.dedent(
    """
    import sys
    from pdip import Pdi
    from pdip.integrator.base import Integrator
    from tests.integrationtests.changes.test_faults import apply_operation

    bootstrap, url, topic, table, root = sys.argv[1:]
    with Pdi(root_directory=root) as pdi:
        pdi.get(Integrator).integrate(apply_operation(bootstrap, url, topic, table))
    """
)


def apply_operation(bootstrap: str, url: str, topic: str, table: str) -> Operation:
    source = Connection(
        "kafka",
        {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "group": f"apply-{topic}",
            "poll_timeout": 0.3,
            "options": FAST_GROUP,
        },
    )
    target = Connection("sql", {"url": url, "table": table})
    return Operation(
        f"apply-{topic}",
        [Integration("apply", source=source, target=target, mode="changes", batch_size=50)],
        executor="inline",
    )


class KilledApplyTest(unittest.TestCase):
    def test_a_killed_applying_process_resumes_after_its_last_applied_batch(self):
        bootstrap, url = servers.kafka_bootstrap(), servers.postgres_url()
        suffix = uuid.uuid4().hex[:8]
        topic, table = f"pdip-it-kill-{suffix}", f"pdip_it_kill_{suffix}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        metadata = sa.MetaData()
        replica = sa.Table(
            table,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("version", sa.Integer),
        )
        metadata.create_all(engine)
        self.addCleanup(replica.drop, engine)
        root = tempfile.mkdtemp(prefix="pdip-kill-")
        self.addCleanup(shutil.rmtree, root, True)

        sender = KafkaChangesTarget(
            Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "partitions": 3}), Context()
        )
        sender.prepare(["entry"], create=True, truncate=False)
        sender.write(entries_batch(history(KEYS, UPDATES)))
        sender.commit()
        sender.close()

        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, bootstrap, url, topic, table, root], cwd=ROOT, stderr=subprocess.DEVNULL
        )
        slot = f"apply-{topic}/apply"
        deadline = time.monotonic() + 120
        applied = 0
        while applied < 500 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
            stored = positions.load_position(engine, slot)
            applied = sum(stored[topic].values()) if stored else 0
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        self.assertEqual(child.returncode, -signal.SIGKILL, "killed mid-stream, not finished")
        stored = positions.load_position(engine, slot)
        durable = sum(stored[topic].values())
        self.assertTrue(0 < durable < KEYS + UPDATES, durable)

        with Pdi(root_directory=root) as pdi:
            result = pdi.get(Integrator).integrate(apply_operation(bootstrap, url, topic, table))
        self.assertTrue(result.ok, result["apply"].error)
        self.assertEqual(result["apply"].rows_read, KEYS + UPDATES - durable, "each message applied once")
        with engine.connect() as connection:
            rows = dict(connection.execute(sa.select(replica.c.id, replica.c.version)).all())
        self.assertEqual(rows, {k: UPDATES // KEYS for k in range(KEYS)})


class BrokerGoneTest(unittest.TestCase):
    def test_a_broker_that_goes_away_fails_the_run_and_the_checkpoint_stays_at_the_last_confirmed_batch(self):
        broker = KafkaBroker().start()
        self.addCleanup(broker.stop)
        root = tempfile.mkdtemp(prefix="pdip-broker-gone-")
        self.addCleanup(shutil.rmtree, root, True)
        target = Connection(
            "kafka", {"bootstrap_servers": broker.bootstrap_servers, "topic": "gone", "delivery_timeout": 2}
        )
        operation = Operation(
            "broker-gone",
            [
                Integration(
                    "send",
                    source=Connection("memory", {"store": "log"}),
                    target=target,
                    mode="changes",
                    batch_size=100,
                    create_target=True,
                )
            ],
            executor="inline",
        )
        with Pdi(root_directory=root) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["log"] = history(KEYS, UPDATES)[:1000]

            def stop_after_three(event):
                if event.total_rows == 300:
                    broker.stop()

            integrator.subscribe(BatchWritten, stop_after_three)
            result = integrator.integrate(operation)
            checkpoint = pdi.get(StateStore).checkpoint("broker-gone", "send")
        self.assertEqual(result.status, "failed")
        self.assertEqual(result["send"].rows_written, 300)
        self.assertRegex(
            result["send"].error, r"KafkaDeliveryError: 100 messages were not delivered: gone: Local: Message timed out"
        )
        self.assertEqual(checkpoint.positions, {"": 300}, "the fourth batch was never confirmed: no checkpoint for it")


if __name__ == "__main__":
    unittest.main()
