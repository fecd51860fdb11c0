"""Change capture throughput (`capture: logical`), measured against a baseline of the same run.

    python bench/bench_capture.py [--changes 1000000] [--keys 10000] [--batch-size N] [--only replica,kafka]
                                  [--executors process,inline]

A table of `--keys` rows takes `--changes` changes: the inserts of every key, rounds of updates of
every key, and at the end deletes of every other key and their inserts again, each round one
transaction. A slot per run was made before the first change, so each reads the same log:

- `baseline`: the log read raw over psycopg2's replication connection (pgoutput, nothing decoded,
  nothing written, the slot confirmed as it goes): how fast the server hands the changes out.
- `replica`: captured through `Integrator.integrate` into a PostgreSQL table (upserts and deletes,
  the position stored with the rows). Target >= 100k changes/s.
- `kafka`: captured into a Kafka topic of 3 partitions (confirmed by the broker). Target >= 150k/s.

Without `--batch-size` each capture reads the batches a user gets who sets none (the target's
`batch_rows`: 50,000 entries into a SQL table, 10,000 into Kafka). Each capture runs with each
of `--executors` (default `process`: a reader process decodes and hands its batches to this
process, the writer; `inline`: one process does both, with nothing
pickled between them).

Each line prints changes/s and its ratio to the baseline, and the CPU time pdip's processes spent
per change (a reader process, where one decodes and makes the entries, and this process, the
writer; "one process" where the reading is a thread of the writer's, as a capture's is under
`process` since 2026-12-06; the servers' own work is not in it): on a machine loaded by other work the wall clock
mostly measures the load, the CPU time what pdip costs. PostgreSQL's CPU per change follows (its
WAL sender decoding the log for the slot, alone on the baseline's line, and for the replica its
backend applying the rows as well), and into Kafka the broker's when the bench started it: pdip's
and the servers' together over the cores the machine has bound the rate any run can reach. Peak
RSS last. The server is one this bench starts with wal_level=logical (tests/support/logical_postgres.py) unless
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
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdip import Pdi  # noqa: E402 - after the repository root is importable
from pdip.integrator import Connection, Integration, Operation  # noqa: E402
from pdip.integrator.base import Integrator  # noqa: E402
from tests.support.logical_postgres import logical_postgres_url  # noqa: E402

PUBLICATION = "bench_capture"
# seconds, changes written, CPU seconds of the writer and of the reader, the server's CPU seconds,
# and the CPU seconds of this process's live children (a broker started for the run)
Measured = tuple[float, int, tuple[float, float], float | None, float]
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


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Every process's id and the fields of its /proc/<pid>/stat after the command name."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                yield int(entry), stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue


def server_cpu_seconds(engine: sa.Engine) -> float | None:
    """CPU time the PostgreSQL server has spent: its postmaster's, its ended children's (which
    the postmaster waited for) and its live children's, from /proc (None where the server is
    another machine's or /proc cannot be read). The source and the replica are one server, so
    this holds the WAL sender's decoding and the replica's apply."""
    try:
        with engine.connect() as db:
            folder = db.exec_driver_sql("SHOW data_directory").scalar()
        with open(os.path.join(folder, "postmaster.pid"), encoding="ascii") as pid_file:
            postmaster = int(pid_file.readline())
        total = 0
        for pid, fields in process_stats():
            if pid == postmaster:
                total += sum(int(value) for value in fields[11:15])  # its own and its ended children's
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, sa.exc.DBAPIError):
        return None


def live_children_cpu_seconds() -> float:
    """CPU time of this process's children that are still running: the Kafka broker started for
    the run (a capture's reading is a thread of this process, so there is no reader process)."""
    me = os.getpid()
    total = sum(int(fields[11]) + int(fields[12]) for _, fields in process_stats() if int(fields[1]) == me)
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process (the writer) and of its children that have ended (the reader)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def capture(root: str, name: str, url: str, target: Connection, batch_size: int | None, executor: str) -> Measured:
    source = Connection(
        "postgresql", {"url": url, "capture": "logical", "slot": name, "publication": PUBLICATION, "snapshot": False}
    )
    integration = Integration("capture", mode="changes", source=source, target=target, batch_size=batch_size)
    server = sa.create_engine(url)
    with Pdi(root_directory=root) as pdi:
        started, cpu, served = time.perf_counter(), cpu_seconds(), server_cpu_seconds(server)
        children = live_children_cpu_seconds()
        operation = Operation(name, [integration], executor=executor)
        result = pdi.get(Integrator).integrate(operation, execution_id=uuid.uuid4().hex)
        seconds, now_cpu = time.perf_counter() - started, cpu_seconds()
        children = live_children_cpu_seconds() - children
        cpu = (now_cpu[0] - cpu[0], now_cpu[1] - cpu[1])
        now = server_cpu_seconds(server)
        served = None if served is None or now is None else now - served
    server.dispose()
    if not result.ok:
        raise SystemExit(f"{name}: {result['capture'].error}")
    return seconds, result["capture"].rows_written, cpu, served, children


def to_replica(root: str, url: str, batch_size: int | None, executor: str) -> Measured:
    with sa.create_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.exec_driver_sql(f"DROP DATABASE IF EXISTS {REPLICA}")
        db.exec_driver_sql(f"CREATE DATABASE {REPLICA}")
    replica_url = sa.engine.make_url(url).set(database=REPLICA).render_as_string(hide_password=False)
    replica = sa.create_engine(replica_url)
    sql(replica, "CREATE TABLE bench_items (id int PRIMARY KEY, version int NOT NULL, note text)")
    replica.dispose()
    target = Connection("postgresql", {"url": replica_url, "table": "bench_items"})
    return capture(root, f"bench_replica_{executor}", url, target, batch_size, executor)


def to_kafka(root: str, url: str, batch_size: int | None, executor: str) -> Measured:
    from confluent_kafka.admin import AdminClient, NewTopic

    from tests.support.kafka_broker import configured_or_started

    with configured_or_started("KAFKA_BOOTSTRAP_SERVERS", "PDIP_TEST_KAFKA_BOOTSTRAP") as bootstrap:
        topic = f"bench-capture-{uuid.uuid4().hex[:6]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
            future.result()
        target = Connection("kafka", {"bootstrap_servers": bootstrap, "topic": topic})
        return capture(root, f"bench_kafka_{executor}", url, target, batch_size, executor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--only", default="replica,kafka")
    parser.add_argument("--executors", default="process")
    args = parser.parse_args()
    only, executors = args.only.split(","), args.executors.split(",")
    runs = [(name, executor) for name in ("replica", "kafka") if name in only for executor in executors]
    url = logical_postgres_url()
    engine = prepare(url, ["bench_raw", *(f"bench_{name}_{executor}" for name, executor in runs)])
    started = time.perf_counter()
    made = make_changes(engine, args.changes, args.keys)
    end = end_of_log(engine)
    print(
        f"{made:,} changes on {args.keys:,} keys made in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
    )
    served = server_cpu_seconds(engine)
    seconds, seen = raw_read(url, "bench_raw", end)
    now = server_cpu_seconds(engine)
    baseline = seen / seconds
    sender = "" if served is None or now is None else f"; PostgreSQL CPU {(now - served) / seen * 1e6:.1f} us/change"
    print(f"{'baseline: raw pgoutput read':<32} {baseline:>10,.0f} changes/s ({seen:,} in {seconds:.1f} s){sender}")
    with tempfile.TemporaryDirectory(prefix="pdip-bench-capture-") as root:
        for name, executor in runs:
            run = to_replica if name == "replica" else to_kafka
            seconds, written, cpu, served, children = run(root, url, args.batch_size, executor)
            rate = written / seconds
            ratio = rate / baseline
            label = f"{'-> PostgreSQL replica' if name == 'replica' else '-> Kafka'} ({executor})"
            writer, reader = (spent / max(written, 1) * 1e6 for spent in cpu)
            server = "" if served is None else f", PostgreSQL CPU {served / max(written, 1) * 1e6:.1f} us/change"
            if name == "kafka" and children:  # a broker this bench started (none when one is configured)
                server += f", broker CPU {children / max(written, 1) * 1e6:.1f} us/change"
            # a capture is read by a thread of the writer's process (`Source.reads_in_thread`): no reader process
            parts = f"reader {reader:.1f}, writer {writer:.1f}" if reader else "one process"
            print(
                f"{label:<32} {rate:>10,.0f} changes/s ({written:,} in {seconds:.1f} s), {ratio:.2f} x baseline; "
                f"pdip CPU {writer + reader:.1f} us/change ({parts}){server}"
            )
    engine.dispose()
    writer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{'peak RSS':<32} {writer:>10.0f} MiB writer (this process), {readers:.0f} MiB largest child process")
    print(f"{'load average':<32} {' '.join(f'{load:.1f}' for load in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
