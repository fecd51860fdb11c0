"""Partial updates at replicas whose columns are NOT NULL, spread over many batches and the
partitions of a topic, with the applying process killed (SIGKILL) twice and resumed: every
update changes only its columns of the row that is there, deletes and soft deletes land, no
entry is refused, and each message is applied once. On SQLite, PostgreSQL and MariaDB."""

import datetime as dt
import os
import random
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
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
from pdip.integrator.adapters.sql import positions
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch
from pdip.tracking import ChangeLogEntry
from tests.integrationtests.kafka.support import FAST_GROUP, Context
from tests.support import servers

ROOT = Path(__file__).resolve().parents[3]
KEYS, STEPS = 120, 12
WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
INTEGRATIONS = ("hard", "soft")

CHILD = textwrap.dedent(
    """
    import sys
    from pdip import Pdi
    from pdip.integrator.base import Integrator
    from tests.integrationtests.changes.test_partial_updates import operation

    bootstrap, url, topic, suffix, root = sys.argv[1:]
    with Pdi(root_directory=root) as pdi:
        pdi.get(Integrator).integrate(operation(bootstrap, url, topic, suffix))
    """
)


def history(seed: int = 25) -> list[ChangeLogEntry]:
    """Each key inserted, then updated (a few of its columns at a time), deleted and inserted
    again, in steps interleaved across keys, so one key's entries land in many batches."""
    chooser = random.Random(seed)
    alive = dict.fromkeys(range(1, KEYS + 1), False)
    entries = []
    for step in range(STEPS):
        for key in alive:
            if not alive[key] or (step and chooser.random() < 0.15):
                if alive[key]:
                    entries.append(ChangeLogEntry("delete", entity="items", key=key, timestamp=WHEN))
                after = {"id": key, "name": f"n{key}.{step}", "amount": step, "note": "new"}
                entries.append(ChangeLogEntry("insert", entity="items", key=key, after=after))
                alive[key] = True
            elif chooser.random() < 0.1:
                entries.append(ChangeLogEntry("delete", entity="items", key=key, timestamp=WHEN))
                alive[key] = False
            else:
                columns = chooser.sample(["name", "amount", "note"], chooser.randint(1, 2))
                values = {"name": f"u{key}.{step}", "amount": step * 10 + key, "note": f"s{step}"}
                entries.append(ChangeLogEntry("update", entity="items", key=key, after={c: values[c] for c in columns}))
    return entries


def expected(entries: list[ChangeLogEntry], soft: bool) -> dict[int, tuple]:
    """The replica after `entries`, applied one by one: (name, amount, note[, deleted])."""
    rows: dict[int, dict] = {}
    for entry in entries:
        if entry.action == "insert":
            rows[entry.key] = {**entry.after, "deleted": False}
        elif entry.action == "update":
            rows[entry.key].update(entry.after)
        elif soft:
            rows[entry.key]["deleted"] = True
        else:
            del rows[entry.key]
    return {
        key: (row["name"], row["amount"], row["note"], *((row["deleted"],) if soft else ()))
        for key, row in rows.items()
    }


def operation(bootstrap: str, url: str, topic: str, suffix: str) -> Operation:
    """Two appliers of one topic: to a table where a delete removes the row, and to one where it
    sets `deleted_at`."""
    integrations = []
    for name in INTEGRATIONS:
        source = Connection(
            "kafka",
            {
                "bootstrap_servers": bootstrap,
                "topic": topic,
                "group": f"{name}-{topic}",
                "poll_timeout": 0.3,
                "options": FAST_GROUP,
            },
        )
        settings = {"url": url, "table": f"pdip_it_partial_{name}_{suffix}"}
        if name == "soft":
            settings["soft_delete"] = "deleted_at"
        target = Connection("sql", settings)
        integrations.append(Integration(name, source=source, target=target, mode="changes", batch_size=40))
    return Operation(f"partial-{topic}", integrations, executor="inline")


class PartialUpdatesAcrossBatches:
    """The test; subclasses say which database."""

    def test_partial_updates_deletes_and_soft_deletes_survive_kills_and_resumes(self):
        bootstrap, url = servers.kafka_bootstrap(), self.database_url()
        suffix = uuid.uuid4().hex[:8]
        topic = f"pdip-it-partial-{suffix}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        metadata = sa.MetaData()
        tables = {
            name: sa.Table(
                f"pdip_it_partial_{name}_{suffix}",
                metadata,
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("name", sa.String(40), nullable=False),
                sa.Column("amount", sa.Integer, nullable=False),
                sa.Column("note", sa.String(40), nullable=False),
                *([sa.Column("deleted_at", sa.DateTime(timezone=True))] if name == "soft" else []),
            )
            for name in INTEGRATIONS
        }
        metadata.create_all(engine)
        self.addCleanup(metadata.drop_all, engine)
        root = tempfile.mkdtemp(prefix="pdip-partial-")
        self.addCleanup(shutil.rmtree, root, True)

        entries = history()
        sender = KafkaChangesTarget(
            Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "partitions": 3}), Context()
        )
        sender.prepare(["entry"], create=True, truncate=False)
        sender.write(entries_batch(entries))
        sender.commit()
        sender.close()

        slot = f"partial-{topic}/hard"
        for share in (3, 3 * 2):  # killed after about a third of the entries, then after two thirds
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, bootstrap, url, topic, suffix, root],
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)
                stored = positions.load_position(engine, slot)
                if stored and sum(stored[topic].values()) * 9 >= len(entries) * share:
                    break
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            self.assertEqual(child.returncode, -signal.SIGKILL, "killed mid-stream, not finished")
        durable = {
            name: sum((positions.load_position(engine, f"partial-{topic}/{name}") or {topic: {}})[topic].values())
            for name in INTEGRATIONS
        }
        self.assertTrue(0 < durable["hard"] < len(entries), durable)

        with Pdi(root_directory=root) as pdi:
            result = pdi.get(Integrator).integrate(operation(bootstrap, url, topic, suffix))
        for name in INTEGRATIONS:
            with self.subTest(name):
                self.assertTrue(result.ok, result[name].error)
                self.assertEqual(result[name].rows_read, len(entries) - durable[name], "each message applied once")
                self.assertEqual(result[name].rows_written, result[name].rows_read, "no entry refused")
                table = tables[name]
                with engine.connect() as connection:
                    rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
                replica = {
                    row["id"]: (
                        row["name"],
                        row["amount"],
                        row["note"],
                        *((row["deleted_at"] is not None,) if name == "soft" else ()),
                    )
                    for row in rows
                }
                self.assertEqual(replica, expected(entries, soft=name == "soft"))


class SqlitePartialUpdatesTest(PartialUpdatesAcrossBatches, unittest.TestCase):
    def database_url(self):
        folder = tempfile.mkdtemp(prefix="pdip-partial-sqlite-")
        self.addCleanup(shutil.rmtree, folder, True)
        return f"sqlite:///{Path(folder) / 'replica.db'}"


class PostgresPartialUpdatesTest(PartialUpdatesAcrossBatches, unittest.TestCase):
    def database_url(self):
        return servers.postgres_url()


class MariaDbPartialUpdatesTest(PartialUpdatesAcrossBatches, unittest.TestCase):
    def database_url(self):
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
