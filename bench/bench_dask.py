"""The dask executor against the process executor, in the same run, on this machine.

    python bench/bench_dask.py [--rows 1000000] [--files 4] [--workers 2]

- PostgreSQL -> PostgreSQL, `parallelism: workers`: process executor (the baseline: reader
  processes feed one writer) vs a local Dask cluster (each task reads and writes a key range).
- CSV folder -> PostgreSQL (`--files` files of rows/files rows each), same two executors.
- The fixed cost of a Dask run and the cost of one more partition, from a 16-row table read as
  1 and as 8 partitions.
Each line prints seconds, rows/s and the ratio to the process executor; peak RSS of this process
and of the busiest worker comes last. On two cores parity is what to expect: the work is the
same, and the database's write side is the bottleneck either way.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import resource
import tempfile
import time

from pdip import Pdi
from pdip.cryptography import CryptoService
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from pdip.integrator.executors.dask import KEY_VARIABLE, local_cluster

POSTGRES = os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLUMNS = "id integer primary key, name text, price double precision, created timestamp, active boolean"
SERIES = (
    "SELECT i, 'name ' || i, i * 0.5, timestamp '2026-01-01' + i * interval '1 second', i % 2 = 0 "
    "FROM generate_series(0, {last}) AS i"
)


def run(integrator: Integrator, integration: Integration, executor: str, scheduler: str | None) -> float:
    operation = Operation(f"bench-{integration.name}", [integration], executor=executor, scheduler=scheduler)
    started = time.perf_counter()
    result = integrator.integrate(operation)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"{integration.name} with {executor} failed: {result.integrations[0].error}")
    return elapsed


class Tables:
    def __init__(self):
        import psycopg

        self.connection = psycopg.connect(POSTGRES.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.names: list[str] = []

    def make(self, name: str, rows: int = 0) -> str:
        self.connection.execute(f"DROP TABLE IF EXISTS {name}")
        self.connection.execute(f"CREATE TABLE {name} ({COLUMNS})")
        if rows:
            self.connection.execute(f"INSERT INTO {name} {SERIES.format(last=rows - 1)}")
            self.connection.execute(f"VACUUM ANALYZE {name}")
        self.names.append(name)
        return name

    def close(self) -> None:
        for name in self.names:
            self.connection.execute(f"DROP TABLE IF EXISTS {name}")
        self.connection.close()


def line(label: str, rows: int, seconds: float, baseline: float) -> None:
    print(f"{label:<44} {seconds:7.2f} s {rows / seconds:>10,.0f} rows/s   {baseline / seconds:5.2f}x process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    os.environ.setdefault(KEY_VARIABLE, CryptoService.generate_key())
    folder = tempfile.mkdtemp(prefix="pdip-bench-dask-")
    tables = Tables()
    cluster = local_cluster(arguments.workers, {})
    try:
        from distributed import Client

        with Client(cluster.scheduler_address) as client:
            client.wait_for_workers(arguments.workers, timeout=120)
        scheduler = cluster.scheduler_address
        with Pdi(root_directory=folder) as pdi:
            integrator = pdi.get(Integrator)
            source = tables.make("pdip_bench_dask_source", arguments.rows)

            def copy(target: str) -> Integration:
                return Integration(
                    "pg",
                    source=Connection("sql", {"url": POSTGRES, "table": source}),
                    target=Connection("sql", {"url": POSTGRES, "table": tables.make(target)}),
                    key=["id"],
                    parallelism=arguments.workers,
                    batch_size=10_000,
                )

            tiny = tables.make("pdip_bench_dask_tiny", 16)

            def tiny_copy(target: str, parts: int) -> Integration:
                return Integration(
                    "tiny",
                    source=Connection("sql", {"url": POSTGRES, "table": tiny}),
                    target=Connection("sql", {"url": POSTGRES, "table": tables.make(target)}),
                    key=["id"],
                    parallelism=parts,
                )

            print(f"{arguments.rows:,} rows, {arguments.workers} workers, {os.cpu_count()} cores")
            warm_up = run(integrator, tiny_copy("pdip_bench_dask_warm", arguments.workers), "dask", scheduler)
            print(f"first dask run on fresh workers (they import pdip and the drivers): {warm_up:.2f} s")
            baseline = run(integrator, copy("pdip_bench_dask_by_process"), "process", None)
            line("PostgreSQL -> PostgreSQL, process executor", arguments.rows, baseline, baseline)
            seconds = run(integrator, copy("pdip_bench_dask_by_dask"), "dask", scheduler)
            line("PostgreSQL -> PostgreSQL, dask executor", arguments.rows, seconds, baseline)

            landing = os.path.join(folder, "landing")
            os.makedirs(landing)
            per_file = arguments.rows // arguments.files
            start = dt.datetime(2026, 1, 1)
            for number in range(arguments.files):
                with open(os.path.join(landing, f"part{number}.csv"), "w", newline="") as stream:
                    writer = csv.writer(stream)
                    writer.writerow(["id", "name", "price", "created", "active"])
                    for i in range(number * per_file, (number + 1) * per_file):
                        writer.writerow([i, f"name {i}", i * 0.5, start + dt.timedelta(seconds=i), i % 2 == 0])

            def load(target: str) -> Integration:
                return Integration(
                    "csv",
                    source=Connection("csv", {"path": landing}),
                    target=Connection("sql", {"url": POSTGRES, "table": tables.make(target)}),
                    parallelism=arguments.workers,
                    batch_size=10_000,
                )

            total = per_file * arguments.files
            baseline = run(integrator, load("pdip_bench_dask_csv_process"), "process", None)
            line(f"CSV folder ({arguments.files} files) -> PostgreSQL, process", total, baseline, baseline)
            seconds = run(integrator, load("pdip_bench_dask_csv_dask"), "dask", scheduler)
            line(f"CSV folder ({arguments.files} files) -> PostgreSQL, dask", total, seconds, baseline)

            one = min(run(integrator, tiny_copy(f"pdip_bench_dask_tiny_1_{n}", 1), "dask", scheduler) for n in range(3))
            eight = min(
                run(integrator, tiny_copy(f"pdip_bench_dask_tiny_8_{n}", 8), "dask", scheduler) for n in range(3)
            )
            print(f"dask run of 16 rows as 1 partition: {one:.3f} s fixed cost (cluster already up)")
            print(f"each further partition: {(eight - one) / 7 * 1000:.0f} ms (8 partitions: {eight:.3f} s)")
        with Client(scheduler) as client:
            worker_peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: this process {peak:.0f} MiB, busiest worker {max(worker_peaks.values()) / 1024:.0f} MiB")
    finally:
        cluster.close()
        tables.close()


if __name__ == "__main__":
    main()
