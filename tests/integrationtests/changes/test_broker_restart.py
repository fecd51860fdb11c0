"""A Kafka broker restarted mid-stream, with durable storage: tansu keeps its topics and its
consumer groups' offsets in S3 (a local moto server), so the broker that comes back on the same
port has everything the one that stopped had acknowledged.

- Applying Kafka -> PostgreSQL (process executor, one group member or two assigned readers):
  the broker is killed after the first batches are applied, while the readers hold more; the run
  finishes, the replica equals the expected state row by row, every message is read once, and
  the group's committed offsets and the positions stored with the rows reach the end of the topic.
  Also after an outage longer than the consumer's session, when the group has dropped the member.
- The broker gone for good during a bounded apply: the run fails once the member has waited
  `max.poll.interval.ms` (for its partitions, or in offset commits that wait for the broker), and
  the replica holds exactly the entries up to the positions stored with its rows.
- Relaying entries to Kafka (memory source -> Kafka target): the broker is killed between two
  batches and the next one is produced while it is down; the producer retries until the broker
  is back, every entry arrives once, and applying the topic gives the expected replica.

The restart waits for a condition (the integrator's BatchWritten event), never for a sleep: the
writer holds on after its second batch until the broker is down, so the stop always falls
mid-stream. The integrator runs in a worker thread and the test's main thread restarts the
broker, because the death signal that ties tansu to this process follows the thread that
started it (tests/support/kafka_broker.py).
"""

from __future__ import annotations

import collections
import shutil
import tempfile
import threading
import time
import unittest
import uuid
from typing import Any

import sqlalchemy as sa

from pdip import Pdi
from pdip.conversion.tagged import loads
from pdip.integrator import Connection, ExecutionResult, Integration, Operation, StateStore
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
from pdip.integrator.adapters.sql import positions
from pdip.integrator.base import Integrator
from pdip.integrator.changes import entries_batch, entry_from_json
from pdip.integrator.events import BatchWritten
from pdip.tracking import ChangeLogEntry
from tests.integrationtests.changes.support import history
from tests.integrationtests.kafka.support import FAST_GROUP, Context, kafka, raw_messages
from tests.support import servers
from tests.support.kafka_broker import KafkaBroker, KafkaBrokerError
from tests.support.object_store import DEFAULT_BUCKET, started_or_missing

KEYS, UPDATES = 3_000, 27_000  # 30,000 entries: an insert per key, then nine updates of each
PARTITIONS = 3
BATCH = 2_000
RUN_TIMEOUT = 180.0  # seconds; a run takes a few, a hung one fails the test instead of the suite
WAIT_TIMEOUT = 60.0
SESSION_TIMEOUT = FAST_GROUP["session.timeout.ms"] / 1000


def durable_broker(test: unittest.TestCase) -> KafkaBroker:
    """A tansu broker storing in a fresh moto S3 server, both stopped when the test ends."""
    store = started_or_missing(DEFAULT_BUCKET, "a durable tansu")
    test.addCleanup(store.stop)
    try:
        broker = KafkaBroker(storage=store.storage("broker")).start()
    except KafkaBrokerError as error:
        servers.server_missing(f"Kafka: cannot start tansu on S3 storage ({error})")
    test.addCleanup(broker.stop)
    return broker


class RestartAfterSecondBatch:
    """Holds the writer after its second batch until the broker is down, then lets it go on, so
    the writer works against a stopped broker; the broker then starts again on the same port."""

    def __init__(self, broker: KafkaBroker):
        self.broker = broker
        self.held = threading.Event()  # the writer wrote two batches and waits
        self.down = threading.Event()  # the broker is stopped
        self.resumed = threading.Event()  # the writer goes on while the broker is down
        self.written_while_down = threading.Event()  # and has written another batch
        self.rows_when_stopped: int | None = None

    def on_batch(self, event: BatchWritten) -> None:  # in the writer's thread
        if self.down.is_set() and self.rows_when_stopped is not None and event.total_rows > self.rows_when_stopped:
            self.written_while_down.set()
        if self.held.is_set() or event.total_rows < 2 * BATCH:
            return
        self.rows_when_stopped = event.total_rows
        self.held.set()
        self.down.wait(WAIT_TIMEOUT)
        self.resumed.set()

    def restart(self, wait_for_a_batch: bool, down_for: float = 0.0) -> None:  # in the test's main thread
        """Kill the broker (SIGKILL: what it acknowledged must survive a crash) once the writer
        holds, and start it again; `down_for`: stay down at least that long after the writer
        went on (an outage that outlasts a consumer's session has to be a long one)."""
        if not self.held.wait(WAIT_TIMEOUT):
            raise AssertionError("the writer never wrote two batches: nothing to restart the broker in the middle of")

        def while_down() -> None:
            self.down.set()
            self.resumed.wait(WAIT_TIMEOUT)
            if wait_for_a_batch:  # a batch applied (and acknowledged) while the broker is away
                self.written_while_down.wait(10)
            time.sleep(down_for)

        self.broker.restart(kill=True, while_down=while_down)

    def stop_for_good(self) -> None:  # in the test's main thread
        """Stop the broker once the writer holds, and let the writer go on without it."""
        if not self.held.wait(WAIT_TIMEOUT):
            raise AssertionError("the writer never wrote two batches: nothing to stop the broker in the middle of")
        self.broker.stop()
        self.down.set()


def send_history(bootstrap: str, topic: str) -> None:
    """A new topic of PARTITIONS partitions holding `history(KEYS, UPDATES)`."""
    sender = KafkaChangesTarget(
        Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "partitions": PARTITIONS}), Context()
    )
    sender.prepare(["entry"], create=True, truncate=False)
    sender.write(entries_batch(history(KEYS, UPDATES)))
    sender.commit()
    sender.close()


def run_in_thread(integrator: Integrator, operation: Operation) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(integrator.integrate(operation))
        except BaseException as error:  # reported by the test, not lost in the thread
            outcome.append(error)

    thread = threading.Thread(target=run, name=f"integrate {operation.name}", daemon=True)
    thread.start()
    return thread, outcome


def finished(thread: threading.Thread, outcome: list[Any]) -> ExecutionResult:
    thread.join(RUN_TIMEOUT)
    if thread.is_alive():
        raise AssertionError(f"the run did not finish within {RUN_TIMEOUT:.0f}s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def topic_ends(bootstrap: str, topic: str) -> tuple[dict[int, int], list[ChangeLogEntry]]:
    """Each partition's end offset (its message count: offsets are contiguous from 0 without
    transactions or compaction), and the entries of the topic read back without a group."""
    messages = raw_messages(bootstrap, topic)
    ends = collections.Counter(partition for partition, _, _ in messages)
    return {number: ends.get(number, 0) for number in range(PARTITIONS)}, [
        entry_from_json(value) for _, _, value in messages
    ]


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        wanted = [TopicPartition(topic, number) for number in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=30)}
    finally:
        consumer.close()


def stored_offsets(engine: sa.Engine, slot: str, topic: str) -> dict[int, int]:
    """The Kafka offsets the SQL target stored with its rows, over every reader's slot."""
    table = positions.POSITIONS
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.position).where((table.c.slot == slot) | table.c.slot.startswith(f"{slot}/"))
        ).scalars()
        merged: dict[int, int] = {}
        for stored in rows:
            merged.update({int(number): offset for number, offset in loads(stored).get(topic, {}).items()})
    return merged


class Replica:
    """A PostgreSQL table (id, version) that change-log entries of `items` are applied to."""

    def __init__(self, test: unittest.TestCase, name: str):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        test.addCleanup(self.engine.dispose)
        metadata = sa.MetaData()
        self.table = sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("version", sa.Integer),
        )
        metadata.create_all(self.engine)
        test.addCleanup(self.table.drop, self.engine)

    def rows(self) -> dict[int, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(sa.select(self.table.c.id, self.table.c.version)).all())


def apply_operation(bootstrap: str, topic: str, replica: Replica, parallelism: int) -> Operation:
    source = kafka(bootstrap, topic, group=f"apply-{topic}")  # the tests' short group timeouts
    target = Connection("sql", {"url": replica.url, "table": replica.table.name})
    integration = Integration(
        "apply", source=source, target=target, mode="changes", batch_size=BATCH, parallelism=parallelism
    )
    return Operation(f"apply-{topic}", [integration])  # the process executor: readers in child processes


def expected_replica(keys: int = KEYS, updates: int = UPDATES) -> dict[int, int]:
    return {k: updates // keys for k in range(keys)}


def assert_replica(test: unittest.TestCase, rows: dict[int, int], expected: dict[int, int]) -> None:
    """Row by row; a difference is summed up (how many rows, a few of them), not printed whole."""
    wrong = {key: rows.get(key) for key, version in expected.items() if rows.get(key) != version}
    extra = sorted(set(rows) - set(expected))
    some = dict(list(wrong.items())[:5])
    test.assertFalse(
        wrong or extra,
        f"{len(wrong)} of {len(expected)} rows missing or wrong (e.g. id: version found {some}), "
        f"{len(extra)} unexpected: entries lost or applied out of order",
    )


class ApplyThroughARestartTest(unittest.TestCase):
    def test_one_group_member_rides_a_broker_restart(self):
        self.assert_applies_through_a_restart(parallelism=1)

    def test_two_assigned_readers_ride_a_broker_restart(self):
        self.assert_applies_through_a_restart(parallelism=2)

    def test_one_group_member_rides_an_outage_longer_than_its_session(self):
        # The group forgets the member and its partitions are revoked; when the broker is back it
        # joins again and gets them back. The group's offsets lag (commits failed meanwhile), so
        # the reader goes on from where it had read, not from them: nothing is read twice.
        self.assert_applies_through_a_restart(parallelism=1, down_for=SESSION_TIMEOUT + 3)

    def assert_applies_through_a_restart(self, parallelism: int, down_for: float = 0.0) -> None:
        broker = durable_broker(self)
        bootstrap = broker.bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        topic = f"pdip-it-restart-{suffix}"
        replica = Replica(self, f"pdip_it_restart_{suffix}")
        send_history(bootstrap, topic)
        root = tempfile.mkdtemp(prefix="pdip-restart-")
        self.addCleanup(shutil.rmtree, root, True)
        operation = apply_operation(bootstrap, topic, replica, parallelism)

        with Pdi(root_directory=root) as pdi:
            integrator = pdi.get(Integrator)
            restart = RestartAfterSecondBatch(broker)
            integrator.subscribe(BatchWritten, restart.on_batch)
            thread, outcome = run_in_thread(integrator, operation)
            restart.restart(wait_for_a_batch=True, down_for=down_for)
            self.assertEqual(broker.bootstrap_servers, bootstrap, "the same address before and after the restart")
            result = finished(thread, outcome)
            checkpoint = pdi.get(StateStore).checkpoint(operation.name, "apply")

        total = KEYS + UPDATES
        self.assertTrue(result.ok, result["apply"].error)
        self.assertLess(restart.rows_when_stopped, total, "the broker stopped mid-stream")
        self.assertTrue(restart.written_while_down.is_set(), "a batch was applied while the broker was down")
        assert_replica(self, replica.rows(), expected_replica())
        self.assertEqual(result["apply"].rows_read, total, "every message read once: none applied twice")
        self.assertEqual(result["apply"].rows_written, total)
        ends, entries = topic_ends(bootstrap, topic)
        self.assertEqual(len(entries), total, "the restarted broker kept every message")
        self.assertEqual(committed_offsets(bootstrap, f"apply-{topic}", topic), ends, "group offsets at the end")
        self.assertEqual(stored_offsets(replica.engine, f"{operation.name}/apply", topic), ends)
        self.assertTrue(checkpoint.finished)


class BrokerGoneForGoodTest(unittest.TestCase):
    MAX_POLL_INTERVAL = 8.0  # seconds a member may go without partitions (at least its session)

    def test_a_bounded_read_fails_and_the_replica_stands_where_its_positions_say(self):
        # The member's session ends without a broker to renew it, so its partitions are taken:
        # it waits for them for max.poll.interval.ms, then the run fails with the reason. What
        # was applied before stays applied, exactly up to the positions stored with the rows.
        try:
            broker = KafkaBroker().start()
        except KafkaBrokerError as error:
            servers.server_missing(f"Kafka: cannot start tansu ({error})")
        self.addCleanup(broker.stop)
        bootstrap = broker.bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        topic = f"pdip-it-gone-{suffix}"
        replica = Replica(self, f"pdip_it_gone_{suffix}")
        send_history(bootstrap, topic)
        messages = raw_messages(bootstrap, topic)  # each partition's in offset order: gone with the broker
        root = tempfile.mkdtemp(prefix="pdip-gone-")
        self.addCleanup(shutil.rmtree, root, True)
        # The reader must not hold the whole topic when the broker goes: it prefetches a few
        # thousand messages at most.
        options = {
            "max.poll.interval.ms": int(self.MAX_POLL_INTERVAL * 1000),
            "queued.min.messages": 1000,
            "queued.max.messages.kbytes": 256,
            "max.partition.fetch.bytes": 32768,
        }
        source = kafka(bootstrap, topic, group=f"apply-{topic}", options=options)
        target = Connection("sql", {"url": replica.url, "table": replica.table.name})
        operation = Operation(
            f"apply-{topic}", [Integration("apply", source=source, target=target, mode="changes", batch_size=BATCH)]
        )

        with Pdi(root_directory=root) as pdi:
            integrator = pdi.get(Integrator)
            stop = RestartAfterSecondBatch(broker)
            integrator.subscribe(BatchWritten, stop.on_batch)
            thread, outcome = run_in_thread(integrator, operation)
            stop.stop_for_good()
            stopped = time.monotonic()
            result = finished(thread, outcome)
            waited = time.monotonic() - stopped
            checkpoint = pdi.get(StateStore).checkpoint(operation.name, "apply")

        self.assertFalse(result.ok, "a read without a broker cannot know it has read everything")
        # Which comes first depends on timing: the wait for partitions running out, or librdkafka
        # noticing that the reader, held by offset commits that wait for the broker, did not poll.
        self.assertRegex(
            result["apply"].error,
            rf"KafkaAssignmentError: .*no partition of {topic} assigned to group|maximum poll interval .* exceeded",
        )
        self.assertGreater(waited, self.MAX_POLL_INTERVAL, "it waited for its partitions first")
        self.assertFalse(checkpoint is not None and checkpoint.finished)
        stored = stored_offsets(replica.engine, f"{operation.name}/apply", topic)
        self.assertGreaterEqual(sum(stored.values()), 2 * BATCH, "what was applied before the broker went is kept")
        self.assertLess(sum(stored.values()), KEYS + UPDATES)
        expected: dict[int, int] = {}
        taken = collections.Counter()
        for partition, _, value in messages:
            if taken[partition] < stored.get(partition, 0):
                entry = entry_from_json(value)
                expected[entry.key] = entry.after["version"]
            taken[partition] += 1
        assert_replica(self, replica.rows(), expected)


class RelayThroughARestartTest(unittest.TestCase):
    KEYS, UPDATES = 1_000, 9_000

    def test_entries_produced_while_the_broker_restarts_all_arrive(self):
        broker = durable_broker(self)
        bootstrap = broker.bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        topic = f"pdip-it-relay-restart-{suffix}"
        root = tempfile.mkdtemp(prefix="pdip-relay-restart-")
        self.addCleanup(shutil.rmtree, root, True)
        entries = history(self.KEYS, self.UPDATES)
        target = Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "partitions": PARTITIONS})
        relay = Operation(
            f"relay-{topic}",
            [
                Integration(
                    "relay",
                    source=Connection("memory", {"store": "log"}),
                    target=target,
                    mode="changes",
                    batch_size=BATCH,
                    create_target=True,
                )
            ],
        )

        with Pdi(root_directory=root) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["log"] = entries
            restart = RestartAfterSecondBatch(broker)
            integrator.subscribe(BatchWritten, restart.on_batch)
            thread, outcome = run_in_thread(integrator, relay)
            restart.restart(wait_for_a_batch=False)  # the writer's next commit waits for the broker
            result = finished(thread, outcome)
            checkpoint = pdi.get(StateStore).checkpoint(relay.name, "relay")

        self.assertTrue(result.ok, result["relay"].error)
        self.assertLess(restart.rows_when_stopped, len(entries), "the broker stopped mid-stream")
        self.assertEqual(result["relay"].rows_written, len(entries))
        self.assertTrue(checkpoint.finished)
        ends, arrived = topic_ends(bootstrap, topic)
        self.assertEqual(
            collections.Counter(entry.id for entry in arrived),
            collections.Counter(entry.id for entry in entries),
            "every entry arrived, once (the idempotent producer's retries add no duplicate)",
        )
        self.assertEqual(sum(ends.values()), len(entries))

        # And the topic applies to the replica it describes.
        replica = Replica(self, f"pdip_it_relay_restart_{suffix}")
        with Pdi(root_directory=root) as pdi:
            applied = pdi.get(Integrator).integrate(apply_operation(bootstrap, topic, replica, parallelism=1))
        self.assertTrue(applied.ok, applied["apply"].error)
        assert_replica(self, replica.rows(), expected_replica(self.KEYS, self.UPDATES))


if __name__ == "__main__":
    unittest.main()
