"""Integrator throughput against the native baselines of each store, in the same run.

    python bench/bench_integrator.py [--rows 1000000] [--skip-postgres]

The table has 8 columns (ints, text, float, timestamp, bool, nullable int, 50-character text).
- SQLite -> SQLite through pdip vs sqlite3 `executemany` in one transaction (target >= 70%).
- PostgreSQL -> PostgreSQL through pdip vs a psycopg `COPY TO STDOUT` -> `COPY FROM STDIN` pipe
  (target >= 60%; pdip's generic path is measured until its COPY path lands).
- Fixed overhead of `integrate()` for a 10-row memory operation (target <= 0.3 s).
Each line prints rows/s and the ratio to its baseline; peak RSS is printed last.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import resource
import sqlite3
import tempfile
import time

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator

POSTGRES = os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLUMNS = (
    "id integer, name text, price double precision, created timestamp, active boolean, parent integer, "
    "label text, note varchar(50)"
)
NAMES = ["id", "name", "price", "created", "active", "parent", "label", "note"]


def rows(count: int):
    start = dt.datetime(2026, 1, 1)
    for i in range(count):
        yield (
            i,
            f"name {i}",
            i * 0.5,
            start + dt.timedelta(seconds=i),
            i % 2 == 0,
            None if i % 7 == 0 else i // 7,
            f"label {i % 100}",
            "n" * 50,
        )


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def sqlite_pair(count: int, folder: str) -> tuple[float, float]:
    source = f"{folder}/source.db"
    with sqlite3.connect(source) as connection:
        connection.execute(f"CREATE TABLE items ({COLUMNS})")
        connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows(count))

    def native():
        with sqlite3.connect(source) as reader, sqlite3.connect(f"{folder}/native.db") as writer:
            writer.execute(f"CREATE TABLE items ({COLUMNS})")
            writer.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader.execute("SELECT * FROM items")
            )

    def through_pdip():
        integrate(
            Integration(
                "sqlite",
                source=Connection("sqlite", {"database": source, "table": "items"}),
                target=Connection("sqlite", {"database": f"{folder}/pdip.db", "table": "items"}),
                create_target=True,
                batch_size=10_000,
            ),
            folder,
        )

    return timed(native), timed(through_pdip)


def postgres_pair(count: int, folder: str) -> tuple[float, float]:
    import psycopg

    dsn = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        for name in ("pdip_bench_source", "pdip_bench_native", "pdip_bench_pdip"):
            connection.execute(f"DROP TABLE IF EXISTS {name}")
        connection.execute(f"CREATE TABLE pdip_bench_source ({COLUMNS})")
        connection.execute(f"CREATE TABLE pdip_bench_native ({COLUMNS})")
        with connection.cursor().copy("COPY pdip_bench_source FROM STDIN") as copy:
            for row in rows(count):
                copy.write_row(row)

    def native():
        with psycopg.connect(dsn) as reader, psycopg.connect(dsn) as writer:
            with (
                reader.cursor().copy("COPY pdip_bench_source TO STDOUT (FORMAT BINARY)") as out,
                writer.cursor().copy("COPY pdip_bench_native FROM STDIN (FORMAT BINARY)") as into,
            ):
                for data in out:
                    into.write(data)

    def through_pdip():
        integrate(
            Integration(
                "postgres",
                source=Connection("sql", {"url": POSTGRES, "table": "pdip_bench_source"}),
                target=Connection("sql", {"url": POSTGRES, "table": "pdip_bench_pdip"}),
                create_target=True,
                batch_size=10_000,
            ),
            folder,
        )

    try:
        return timed(native), timed(through_pdip)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for name in ("pdip_bench_source", "pdip_bench_native", "pdip_bench_pdip"):
                connection.execute(f"DROP TABLE IF EXISTS {name}")


def integrate(integration: Integration, folder: str) -> None:
    with Pdi(root_directory=folder) as pdi, contextlib.redirect_stdout(io.StringIO()):
        result = pdi.get(Integrator).integrate(Operation("bench", [integration]))
    if not result.ok:
        raise RuntimeError(result.integrations[0].error)


def fixed_overhead(folder: str) -> float:
    def ten_rows():
        with Pdi(root_directory=folder) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["ten"] = [{"id": i} for i in range(10)]
            integrator.integrate(
                Operation(
                    "tiny",
                    [
                        Integration(
                            "t",
                            source=Connection("memory", {"store": "ten"}),
                            target=Connection("memory", {"store": "out"}),
                        )
                    ],
                )
            )

    ten_rows()
    return min(timed(ten_rows) for _ in range(5))


def report(label: str, count: int, baseline: float, measured: float, target: str) -> None:
    ratio = baseline / measured
    baseline_rate = f"{count / baseline:,.0f} rows/s"
    print(f"{label:<28} {count / measured:>10,.0f} rows/s   {ratio:6.0%} of the baseline ({baseline_rate})   {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="pdip-bench-integrator-")

    native, pdip = sqlite_pair(arguments.rows, folder)
    report("SQLite -> SQLite", arguments.rows, native, pdip, "target >= 70%")
    if not arguments.skip_postgres:
        native, pdip = postgres_pair(arguments.rows, folder)
        report("PostgreSQL -> PostgreSQL", arguments.rows, native, pdip, "target >= 60% (generic path)")
    print(f"{'integrate() of 10 rows':<28} {fixed_overhead(folder):>10.3f} s        target <= 0.3 s")
    print(f"{'peak RSS':<28} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>10.0f} MiB")


if __name__ == "__main__":
    main()
