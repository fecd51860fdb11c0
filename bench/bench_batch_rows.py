"""Whether larger batches pay for the SQL targets (issue #17): CSV -> PostgreSQL, PostgreSQL ->
PostgreSQL and PostgreSQL -> MariaDB, each `pdip run` as a whole process with `batch_size`
10,000, 50,000 and 100,000, in turn, `--rounds` times.

    python bench/bench_batch_rows.py [--rows 1000000] [--rounds 2] [--sizes 10000,50000,100000]

For each: the median wall seconds, the median CPU seconds of the process tree (writer and reader
processes), the CPU seconds of this database's PostgreSQL backends serving the run (read from
/proc every 20 ms while it runs; the last reading of each backend), and the peak PSS of the tree.
Ratios are to the 10,000-row batches of the same run. CPU moves far less than wall time on a
shared machine; `uptime` is printed first.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_integrator import MARIADB, NAMES, POSTGRES, Postgres, as_installed, rows, tree_memory

OPERATION = """
name: batches
integrations:
  - name: batches
    source: {source}
    target: {target}
    batch_size: {size}
    create_target: {create}
"""


def backend_cpu(connection: psycopg.Connection, database: str, seen: dict[int, float]) -> None:
    """Note the CPU seconds so far of each backend of `database` but this one."""
    found = connection.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
    )
    ticks = os.sysconf("SC_CLK_TCK")
    for (pid,) in found.fetchall():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[pid] = (int(fields[11]) + int(fields[12])) / ticks


def measured(command: list[str], folder: str, watcher: psycopg.Connection, database: str) -> tuple[float, ...]:
    """(wall s, tree CPU s, PostgreSQL backend CPU s, peak tree PSS MiB) of one `pdip run`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(f"{folder}/run.log", "w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=as_installed())
        peak, backends = 0, {}
        while process.poll() is None:
            peak = max(peak, tree_memory(process.pid)[0])
            backend_cpu(watcher, database, backends)
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if process.returncode:
            log.seek(0)
            raise RuntimeError(log.read())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, used, sum(backends.values()), peak / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--only", default="csv,postgres,mariadb")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    print(os.popen("uptime").read().strip())
    folder = tempfile.mkdtemp(prefix="pdip-bench-batches-")
    database = Postgres(arguments.rows)
    name = psycopg.conninfo.conninfo_to_dict(database.dsn)["dbname"]
    source = database.table("pdip_bench_batches_src", filled=True)
    with open(f"{folder}/items.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(NAMES)
        writer.writerows(("" if value is None else value for value in row) for row in rows(arguments.rows))
    pairs = {
        "csv": ("CSV -> PostgreSQL", "{kind: csv, path: items.csv}", POSTGRES, "false"),
        "postgres": (
            "PostgreSQL -> PostgreSQL",
            f'{{kind: sql, url: "{POSTGRES}", table: {source}}}',
            POSTGRES,
            "false",
        ),
        "mariadb": ("PostgreSQL -> MariaDB", f'{{kind: sql, url: "{POSTGRES}", table: {source}}}', MARIADB, "true"),
    }
    maria = None
    try:
        for key in arguments.only.split(","):
            label, source_yaml, url, create = pairs[key]
            found: dict[int, list[tuple[float, ...]]] = {size: [] for size in sizes}
            for _ in range(arguments.rounds):
                for size in sizes:
                    if url == POSTGRES:
                        database.table("pdip_bench_batches_dst")
                    else:
                        import sqlalchemy as sa

                        maria = maria or sa.create_engine(MARIADB)
                        with maria.begin() as connection:
                            connection.exec_driver_sql("DROP TABLE IF EXISTS pdip_bench_batches_dst")
                    target = f'{{kind: sql, url: "{url}", table: pdip_bench_batches_dst}}'
                    with open(f"{folder}/batches.yml", "w") as operation:
                        operation.write(OPERATION.format(source=source_yaml, target=target, size=size, create=create))
                    command = [sys.executable, "-m", "pdip", "run", "batches.yml", "--no-progress"]
                    found[size].append(measured(command, folder, database.connection, name))
            print(f"{label}, {arguments.rows:,} rows, medians of {arguments.rounds}:")
            base = [statistics.median(run[index] for run in found[sizes[0]]) for index in range(3)]
            for size in sizes:
                wall, cpu, backend = (statistics.median(run[index] for run in found[size]) for index in range(3))
                peak = max(run[3] for run in found[size])
                print(
                    f"  batch {size:>7,}: wall {wall:6.2f} s ({wall / base[0]:4.0%})  tree CPU {cpu:6.2f} s "
                    f"({cpu / base[1]:4.0%})  PostgreSQL backends {backend:6.2f} s  peak {peak:5.0f} MiB (tree PSS)"
                )
            print(os.popen("uptime").read().strip())
    finally:
        database.drop("pdip_bench_batches_dst")
        database.close()
        if maria is not None:
            with maria.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS pdip_bench_batches_dst")


if __name__ == "__main__":
    main()
