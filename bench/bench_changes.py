"""Kafka and change-log throughput, measured in one run against baselines of the same run.

    python bench/bench_changes.py [--rows 1000000] [--entries 1000000] [--outbox 200000] [--only produce,apply,relay]

- `produce`: rows (5 columns) from a memory store to a Kafka topic through `Integrator.integrate`,
  as JSON keyed by `id`, vs a raw confluent-kafka loop (`json.dumps` + `produce`) with the same
  producer settings (idempotent, lz4). Target >= 70% of the raw loop. The CPU per row of both
  (this process with the client's threads, and its children) is printed too.
- `apply`: change-log entries (an insert per key, then updates: 10 entries per key) from a Kafka
  topic to a PostgreSQL table through `mode: changes` (process executor, an applier per partition, the
  application's field policy on every entry, offsets stored with each batch). Target >= 250k
  entries/s. The CPU per entry of the appliers and of the database's backends is printed too: on
  a machine others share, the rate is the load's, the CPU per entry much less so.
- `relay`: the outbox (a change-log table in PostgreSQL) to a Kafka topic, reported.

The broker is `KAFKA_BOOTSTRAP_SERVERS` (or `PDIP_TEST_KAFKA_BOOTSTRAP`), else a tansu broker
started for the run. Peak RSS of this process (the writer) and of the reader processes is
printed last. The outbox's own cost on an insert (SQLite, PostgreSQL and MariaDB in one run) is
bench/bench_repository.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdip import Pdi  # noqa: E402 - after the repository root is importable
from pdip.integrator import Connection, Integration, Operation  # noqa: E402
from pdip.integrator.adapters.kafka.settings import kafka_settings  # noqa: E402
from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget  # noqa: E402
from pdip.integrator.base import Integrator  # noqa: E402
from pdip.integrator.changes import entries_batch  # noqa: E402
from pdip.integrator.events import BatchWritten  # noqa: E402
from pdip.tracking import ChangeLogEntry, SqlExporter  # noqa: E402

POSTGRES = os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PARTITIONS = 3


class _Context:
    stores: dict = {}
    execution_id = "bench"
    root = None


def broker():
    from tests.support.kafka_broker import configured_or_started

    return configured_or_started("KAFKA_BOOTSTRAP_SERVERS", "PDIP_TEST_KAFKA_BOOTSTRAP")


def create_topic(bootstrap: str, name: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    for future in admin.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        future.result()
    return name


def rows(count: int) -> list[dict]:
    return [
        {"id": i, "name": f"name {i}", "amount": i * 0.5, "active": i % 2 == 0, "label": "abcdefghij" * 2}
        for i in range(count)
    ]


def raw_produce(bootstrap: str, records: list[dict]) -> tuple[float, float]:
    """The baseline: the loop a user would write with confluent-kafka, same producer settings."""
    from confluent_kafka import Producer

    topic = create_topic(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}")
    config = kafka_settings({"bootstrap_servers": bootstrap, "topic": topic}, "bench", "target").producer_config()
    producer = Producer(config)
    dumps = json.dumps
    cpu = _process_cpu()
    started = time.perf_counter()
    for count, record in enumerate(records, 1):
        value, key = dumps(record).encode(), str(record["id"]).encode()
        try:
            producer.produce(topic, value, key)
        except BufferError:
            producer.poll(0.05)
            producer.produce(topic, value, key)
        if count % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    assert remaining == 0, f"{remaining} messages not delivered"
    return elapsed, _process_cpu() - cpu


def integrator_produce(pdi: Pdi, bootstrap: str, records: list[dict]) -> tuple[float, float]:
    topic = create_topic(bootstrap, f"bench-rows-{uuid.uuid4().hex[:6]}")
    integrator = pdi.get(Integrator)
    integrator.stores["bench_rows"] = records
    operation = Operation(
        "bench-produce",
        [
            Integration(
                "rows-to-kafka",
                source=Connection("memory", {"store": "bench_rows"}),
                target=Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "key": ["id"]}),
                batch_size=10_000,
            )
        ],
    )
    cpu = _process_cpu()
    started = time.perf_counter()
    result = integrator.integrate(operation)
    elapsed = time.perf_counter() - started
    cpu = _process_cpu() - cpu
    assert result.ok and result["rows-to-kafka"].rows_written == len(records), result["rows-to-kafka"].error
    del integrator.stores["bench_rows"]
    return elapsed, cpu


def history(count: int) -> list[ChangeLogEntry]:
    keys = max(1, count // 10)
    entries = [
        ChangeLogEntry("insert", entity="items", key=k, after={"id": k, "name": f"item {k}", "amount": 0, "note": None})
        for k in range(keys)
    ]
    entries += [
        ChangeLogEntry("update", entity="items", key=n % keys, after={"amount": n // keys + 1})
        for n in range(count - keys)
    ]
    return entries


def apply(pdi: Pdi, bootstrap: str, count: int) -> tuple[float, int, str]:
    topic = create_topic(bootstrap, f"bench-changes-{uuid.uuid4().hex[:6]}")
    sender = KafkaChangesTarget(Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic}), _Context())
    entries = history(count)
    for start in range(0, len(entries), 50_000):
        sender.write(entries_batch(entries[start : start + 50_000]))
        sender.commit()
    sender.close()
    keys = count // 10
    del entries
    engine = sa.create_engine(POSTGRES)
    metadata = sa.MetaData()
    table = sa.Table(
        f"bench_apply_{uuid.uuid4().hex[:6]}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text),
        sa.Column("amount", sa.Integer),
        sa.Column("note", sa.Text),
    )
    metadata.create_all(engine)
    try:
        source = Connection(
            "kafka",
            {
                "bootstrap_servers": bootstrap,
                "topic": topic,
                "group": f"bench-{topic}",
                "options": {"session.timeout.ms": 6000},
            },
        )
        operation = Operation(
            f"bench-apply-{topic}",
            [
                Integration(
                    "kafka-to-postgres",
                    source=source,
                    target=Connection("sql", {"url": POSTGRES, "table": table.name}),
                    mode="changes",
                    batch_size=20_000,
                    parallelism=PARTITIONS,  # an applier per partition
                )
            ],
        )
        integrator = pdi.get(Integrator)
        written: list[float] = []  # when each batch was committed
        integrator.subscribe(BatchWritten, lambda event: written.append(time.perf_counter()))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        with BackendCpu(engine) as database:
            started = time.perf_counter()
            result = integrator.integrate(operation)
            elapsed = time.perf_counter() - started
        assert result.ok, result["kafka-to-postgres"].error
        with engine.connect() as connection:
            stored = connection.execute(sa.select(sa.func.count(), sa.func.sum(table.c.amount))).one()
        assert stored[0] == keys, f"{stored[0]} rows, expected {keys}"
        appliers = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children)
        detail = (
            f"{'':<30} CPU per entry: appliers {appliers / count * 1e6:.2f} us, PostgreSQL "
            f"{database.seconds / count * 1e6:.2f} us; first batch after {written[0] - started:.2f} s; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        return elapsed, keys, detail
    finally:
        table.drop(engine)
        engine.dispose()


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving `engine`'s database while the block runs
    (read from /proc every 0.1 s, so a backend that ends in between is counted up to its last
    reading; 0 when the server is not on this machine). Other helpers' databases are not counted."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.seen: dict[int, float] = {}
        self.start: dict[int, float] = {}
        self.done = threading.Event()

    @property
    def seconds(self) -> float:
        return sum(used - self.start.get(pid, 0.0) for pid, used in self.seen.items())

    def _read(self) -> None:
        with self.engine.connect() as connection:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            while True:
                for (pid,) in connection.exec_driver_sql(query):
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seen[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                    self.start.setdefault(pid, self.seen[pid] if not self.reading else 0.0)
                connection.rollback()  # a new snapshot of pg_stat_activity each time
                self.reading = True
                if self.done.wait(0.1):
                    return

    def __enter__(self) -> BackendCpu:
        self.reading = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        while not self.reading and self.thread.is_alive():
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _process_cpu() -> float:
    """CPU seconds of this process (the client's threads too) and of its ended children."""
    return _cpu(resource.getrusage(resource.RUSAGE_SELF)) + _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))


def relay(pdi: Pdi, bootstrap: str, count: int) -> float:
    engine = sa.create_engine(POSTGRES)
    name = f"bench_outbox_{uuid.uuid4().hex[:6]}"
    with SqlExporter(engine, table=name, create_table=True, batch_size=20_000) as exporter:
        for entry in history(count):
            exporter(entry)
    topic = f"bench-relay-{uuid.uuid4().hex[:6]}"
    operation = Operation(
        f"bench-relay-{topic}",
        [
            Integration(
                "outbox-to-kafka",
                source=Connection("sql", {"url": POSTGRES, "table": name}),
                target=Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic, "partitions": PARTITIONS}),
                mode="changes",
                create_target=True,
                batch_size=10_000,
            )
        ],
    )
    try:
        started = time.perf_counter()
        result = pdi.get(Integrator).integrate(operation)
        elapsed = time.perf_counter() - started
        assert result.ok and result["outbox-to-kafka"].rows_written == count, result["outbox-to-kafka"].error
        return elapsed
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--outbox", type=int, default=200_000)
    parser.add_argument("--only", default="produce,apply,relay")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    with broker() as bootstrap, tempfile.TemporaryDirectory() as folder, Pdi(root_directory=folder) as pdi:
        print(f"broker {bootstrap}, {PARTITIONS} partitions per topic, {os.cpu_count()} cores")
        if "produce" in wanted:
            records = rows(args.rows)
            baseline, baseline_cpu = raw_produce(bootstrap, records)
            measured, measured_cpu = integrator_produce(pdi, bootstrap, records)
            del records
            ratio = baseline / measured
            print(
                f"{'produce rows to Kafka':<30} {args.rows / measured:>10,.0f} rows/s   {ratio:6.0%} of the raw "
                f"confluent-kafka loop ({args.rows / baseline:,.0f} rows/s)   target >= 70%"
            )
            print(
                f"{'':<30} CPU per row: {measured_cpu / args.rows * 1e6:.2f} us, raw loop "
                f"{baseline_cpu / args.rows * 1e6:.2f} us ({baseline_cpu / measured_cpu:.0%}); "
                f"load {os.getloadavg()[0]:.1f}"
            )
        if "apply" in wanted:
            measured, keys, detail = apply(pdi, bootstrap, args.entries)
            print(
                f"{'apply Kafka -> PostgreSQL':<30} {args.entries / measured:>10,.0f} entries/s   "
                f"({args.entries:,} entries on {keys:,} keys)   target >= 250,000 entries/s"
            )
            print(detail)
        if "relay" in wanted:
            measured = relay(pdi, bootstrap, args.outbox)
            print(f"{'relay outbox -> Kafka':<30} {args.outbox / measured:>10,.0f} entries/s   (reported)")
    writer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{'peak RSS':<30} {writer:>10.0f} MiB writer (this process), {readers:.0f} MiB largest child process")


if __name__ == "__main__":
    main()
