"""Change capture throughput (`capture: logical`), measured against a baseline of the same run.

    python bench/bench_capture.py [--changes 1000000] [--keys 10000] [--batch-size 10000] [--only replica,kafka]

A table of `--keys` rows takes `--changes` changes: the inserts of every key, rounds of updates of
every key, and at the end deletes of every other key and their inserts again, each round one
transaction. Three slots were made before the first change, so each reads the same log:

- `baseline`: the log read raw over psycopg2's replication connection (pgoutput, nothing decoded,
  nothing written, the slot confirmed as it goes): how fast the server hands the changes out.
- `replica`: captured through `Integrator.integrate` into a PostgreSQL table (upserts and deletes,
  the position stored with the rows). Target >= 100k changes/s.
- `kafka`: captured into a Kafka topic of 3 partitions (confirmed by the broker). Target >= 150k/s.

Each line prints changes/s and its ratio to the baseline, and the CPU time pdip's processes spent
per change (this process and its reader processes; the servers' own work is not in it): on a
machine loaded by other work the wall clock mostly measures the load, the CPU time what pdip
costs. Peak RSS last. The server is one this
bench starts with wal_level=logical (tests/support/logical_postgres.py) unless
PDIP_TEST_LOGICAL_POSTGRES_URL names one; the broker is KAFKA_BOOTSTRAP_SERVERS (or
PDIP_TEST_KAFKA_BOOTSTRAP), else a tansu broker started for the run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdip import Pdi  # noqa: E402 - after the repository root is importable
from pdip.integrator import Connection, Integration, Operation  # noqa: E402
from pdip.integrator.base import Integrator  # noqa: E402
from tests.support.logical_postgres import logical_postgres_url  # noqa: E402

PUBLICATION = "bench_capture"
REPLICA = "bench_capture_replica"


def sql(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as db:
        for statement in statements:
            db.exec_driver_sql(statement)


def prepare(url: str, slots: list[str]) -> sa.Engine:
    """The table, its publication and the slots, all before the first change."""
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.exec_driver_sql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'bench_%%'"
        )
    sql(
        engine,
        "DROP TABLE IF EXISTS bench_items",
        f"DROP PUBLICATION IF EXISTS {PUBLICATION}",
        "CREATE TABLE bench_items (id int PRIMARY KEY, version int NOT NULL, note text)",
        f"CREATE PUBLICATION {PUBLICATION} FOR TABLE bench_items",
    )
    with engine.begin() as db:
        for slot in slots:
            db.exec_driver_sql(f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    return engine


def make_changes(engine: sa.Engine, changes: int, keys: int) -> int:
    """Inserts of every key, updates of every key until `changes` is nearly reached, then deletes
    of every other key and their inserts again; returns how many changes were made."""
    made = keys
    sql(engine, f"INSERT INTO bench_items SELECT n, 0, 'note ' || n FROM generate_series(1, {keys}) n")
    rounds = max(0, (changes - 2 * keys) // keys)
    for _ in range(rounds):
        sql(engine, "UPDATE bench_items SET version = version + 1")
        made += keys
    half = keys // 2
    sql(engine, "DELETE FROM bench_items WHERE id %% 2 = 0")
    sql(engine, "INSERT INTO bench_items SELECT n * 2, -1, 'again' FROM generate_series(1, " + str(half) + ") n")
    return made + 2 * half


def end_of_log(engine: sa.Engine) -> int:
    with engine.connect() as db:
        return int(db.exec_driver_sql("SELECT pg_current_wal_insert_lsn() - '0/0'").scalar())


def raw_read(url: str, slot: str, end: int) -> tuple[float, int]:
    """The baseline: pgoutput messages read and confirmed, nothing decoded; (seconds, inserts,
    updates and deletes seen)."""
    import select

    import psycopg2
    import psycopg2.extras

    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cursor = connection.cursor()
    started = time.perf_counter()
    cursor.start_replication(
        slot_name=slot, decode=False, options={"proto_version": "1", "publication_names": PUBLICATION}
    )
    seen = last = 0
    while last < end:
        message = cursor.read_message()
        if message is None:
            cursor.send_feedback(reply=True)
            select.select([cursor], [], [], 0.2)
            last = max(last, cursor.wal_end)
            continue
        kind = message.payload[:1]
        if kind in (b"I", b"U", b"D"):
            seen += 1
        elif kind == b"C":
            last = message.data_start
            cursor.send_feedback(flush_lsn=message.data_start)
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, seen


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def capture(root: str, name: str, url: str, target: Connection, batch_size: int) -> tuple[float, int, float]:
    source = Connection(
        "postgresql", {"url": url, "capture": "logical", "slot": name, "publication": PUBLICATION, "snapshot": False}
    )
    integration = Integration("capture", mode="changes", source=source, target=target, batch_size=batch_size)
    with Pdi(root_directory=root) as pdi:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = pdi.get(Integrator).integrate(Operation(name, [integration]), execution_id=uuid.uuid4().hex)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if not result.ok:
        raise SystemExit(f"{name}: {result['capture'].error}")
    return seconds, result["capture"].rows_written, cpu


def to_replica(root: str, url: str, batch_size: int) -> tuple[float, int, float]:
    with sa.create_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.exec_driver_sql(f"DROP DATABASE IF EXISTS {REPLICA}")
        db.exec_driver_sql(f"CREATE DATABASE {REPLICA}")
    replica_url = sa.engine.make_url(url).set(database=REPLICA).render_as_string(hide_password=False)
    replica = sa.create_engine(replica_url)
    sql(replica, "CREATE TABLE bench_items (id int PRIMARY KEY, version int NOT NULL, note text)")
    replica.dispose()
    target = Connection("postgresql", {"url": replica_url, "table": "bench_items"})
    return capture(root, "bench_replica", url, target, batch_size)


def to_kafka(root: str, url: str, batch_size: int) -> tuple[float, int, float]:
    from confluent_kafka.admin import AdminClient, NewTopic

    from tests.support.kafka_broker import configured_or_started

    with configured_or_started("KAFKA_BOOTSTRAP_SERVERS", "PDIP_TEST_KAFKA_BOOTSTRAP") as bootstrap:
        topic = f"bench-capture-{uuid.uuid4().hex[:6]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
            future.result()
        target = Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic})
        return capture(root, "bench_kafka", url, target, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--only", default="replica,kafka")
    args = parser.parse_args()
    only = set(args.only.split(","))
    url = logical_postgres_url()
    engine = prepare(url, ["bench_raw", "bench_replica", "bench_kafka"])
    started = time.perf_counter()
    made = make_changes(engine, args.changes, args.keys)
    end = end_of_log(engine)
    print(
        f"{made:,} changes on {args.keys:,} keys made in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
    )
    seconds, seen = raw_read(url, "bench_raw", end)
    baseline = seen / seconds
    print(f"{'baseline: raw pgoutput read':<32} {baseline:>10,.0f} changes/s ({seen:,} in {seconds:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="pdip-bench-capture-") as root:
        for name, run in (("replica", to_replica), ("kafka", to_kafka)):
            if name not in only:
                continue
            seconds, written, cpu = run(root, url, args.batch_size)
            rate = written / seconds
            label = f"capture -> {'PostgreSQL replica' if name == 'replica' else 'Kafka'}"
            ratio, cost = rate / baseline, cpu / max(written, 1) * 1e6
            print(
                f"{label:<32} {rate:>10,.0f} changes/s ({written:,} in {seconds:.1f} s), {ratio:.2f} x baseline; "
                f"pdip CPU {cost:.1f} us/change"
            )
    engine.dispose()
    writer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{'peak RSS':<32} {writer:>10.0f} MiB writer (this process), {readers:.0f} MiB largest child process")


if __name__ == "__main__":
    main()
