"""Outbox overhead: inserting entities in one unit of work with and without change-log entries.

    python bench/bench_repository.py [--rows 100000] [--database sqlite,postgresql,mysql]

The same rows go into a plain entity and into a tracked one (`Tracked`: each insert also writes a
`ChangeLogEntry` to `pdip_change_log` in the same transaction), in the same run and database,
for each database in turn (all three by default; PostgreSQL and MariaDB at PDIP_TEST_POSTGRES_URL
and PDIP_TEST_MYSQL_URL). Target: the tracked insert costs at most 1.3x the plain one on each.
The CPU time of this process is printed beside the wall clock: on a machine loaded by other work
the wall clock mostly measures the load (the database server's own work is in the wall clock
only). Peak memory is traced for the tracked run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pdip import Pdi
from pdip.data import DatabaseSessionManager, Entity, RepositoryProvider, Tracked, UnitOfWork
from pdip.data.outbox import CHANGE_LOG

URLS = {
    "sqlite": None,  # a file in a temporary folder
    "postgresql": os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("PDIP_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


class BenchPlainOrder(Entity):
    __tablename__ = "pdip_bench_plain_orders"

    customer: Mapped[str] = mapped_column(sa.String(50))
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    note: Mapped[str | None] = mapped_column(sa.String(200), default=None)


class BenchTrackedOrder(Entity, Tracked):
    __tablename__ = "pdip_bench_tracked_orders"

    customer: Mapped[str] = mapped_column(sa.String(50))
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    note: Mapped[str | None] = mapped_column(sa.String(200), default=None)


TABLES = [BenchPlainOrder.__table__, BenchTrackedOrder.__table__, CHANGE_LOG]


def insert_all(pdi: Pdi, entity: type[Entity], rows: int) -> tuple[float, float]:
    """Seconds (wall clock, CPU of this process) to insert `rows` entities in one unit of work
    (one flush per 10,000)."""
    started, cpu = time.perf_counter(), time.process_time()
    with pdi.scope():
        repository = pdi.get(RepositoryProvider).get(entity)
        with pdi.get(UnitOfWork):
            for start in range(0, rows, 10_000):
                repository.insert_many(
                    entity(customer=f"customer {i % 997}", total=Decimal(i % 10_000) / 100, note="bench")
                    for i in range(start, min(rows, start + 10_000))
                )
    return time.perf_counter() - started, time.process_time() - cpu


def measure(database: str, rows: int, repeat: int) -> tuple[tuple, tuple, int, float]:
    """(fastest plain, fastest tracked, change-log entries, traced peak MiB) on one database; the
    fastest of each kind as (wall seconds, CPU seconds), each the least of its runs."""
    folder = tempfile.mkdtemp(prefix="pdip-bench-")
    url = URLS[database] or f"sqlite:///{folder}/bench.db"

    with Pdi(root_directory=folder, configurations={"DATABASE": {"TYPE": "sqlite", "CONNECTION_STRING": url}}) as pdi:
        engine = pdi.get(DatabaseSessionManager).engine

        def fresh_run(entity: type[Entity], count: int) -> tuple[float, float]:
            Entity.metadata.drop_all(engine, tables=TABLES)  # every run starts from empty tables
            Entity.metadata.create_all(engine, tables=TABLES)
            return insert_all(pdi, entity, count)

        try:
            fresh_run(BenchPlainOrder, min(2_000, rows))  # warm up both paths
            fresh_run(BenchTrackedOrder, min(2_000, rows))
            plain_runs, tracked_runs = [], []
            for _ in range(repeat):  # alternate, so drift in the machine hits both alike
                plain_runs.append(fresh_run(BenchPlainOrder, rows))
                tracked_runs.append(fresh_run(BenchTrackedOrder, rows))
            with engine.connect() as connection:
                entries = connection.execute(sa.select(sa.func.count()).select_from(CHANGE_LOG)).scalar()
            tracemalloc.start()
            fresh_run(BenchTrackedOrder, rows)
            peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        finally:
            Entity.metadata.drop_all(engine, tables=TABLES)
    return fastest(plain_runs), fastest(tracked_runs), entries, peak_mib


def fastest(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The least wall clock and the least CPU time of `runs`."""
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", default=",".join(URLS), help=f"comma-separated, of: {', '.join(URLS)}")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the fastest counts")
    arguments = parser.parse_args()
    databases = [name.strip() for name in arguments.database.split(",") if name.strip()]
    unknown = sorted(set(databases) - set(URLS))
    if unknown:
        parser.error(f"--database: unknown {', '.join(unknown)} (expected some of {', '.join(URLS)})")
    rows = arguments.rows
    print(f"{rows:,} entities in one unit of work, fastest of {arguments.repeat} runs each, plain and tracked in turn")
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    for database in databases:
        (plain, plain_cpu), (tracked, tracked_cpu), entries, peak_mib = measure(database, rows, arguments.repeat)
        print(f"{database}:")
        cpu = f"CPU {plain_cpu / rows * 1e6:5.1f} us/row"
        print(f"  {'without outbox':<24} {plain:8.2f} s   {rows / plain:10,.0f} rows/s   {cpu}   baseline")
        ratio = f"{tracked / plain:.2f}x (CPU {tracked_cpu / plain_cpu:.2f}x)   target <= 1.3x"
        cpu = f"CPU {tracked_cpu / rows * 1e6:5.1f} us/row"
        print(f"  {'with outbox':<24} {tracked:8.2f} s   {rows / tracked:10,.0f} rows/s   {cpu}   {ratio}")
        print(f"  {'change-log entries':<24} {entries:>8,}")
        print(f"  {'peak memory, with outbox':<24} {peak_mib:8.1f} MiB traced (in a separate run)")


if __name__ == "__main__":
    main()
