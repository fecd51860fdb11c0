"""Delta Lake and Iceberg targets against their own libraries writing the same Arrow table.

    python bench/bench_lakehouse.py [--rows 1000000] [--batch-size N] [--rounds 5] [--skip-postgres]

Baselines, measured in the same run and interleaved with pdip's runs (one of each per round, the
medians reported): `deltalake.write_deltalake` (or pyiceberg's `append`) of the whole Arrow table,
already in memory, in one commit (the issue's baseline: it reads nothing), and, for Parquet, the
same library reading the Parquet file (`pyarrow.parquet.read_table`) and then writing it. pdip
reads the source (a Parquet file, a PostgreSQL table) and commits with its position, with default
settings: a Parquet file of the table's schema is copied into the table as it is (its rows are
not decoded), so the bench also runs the same file decoded and written again (chosen `columns:`
rule the copy out) to follow that path. For PostgreSQL, the library reading is ADBC's PostgreSQL driver
(a C++ reader of binary COPY into Arrow, when installed) reading the table, then deltalake
writing it. Ratio = baseline / pdip (higher is better; the issue's target is >= 0.8 for Delta
against the in-memory write). Each line also gives the medians of the CPU seconds each side spent
(this process's and its reader processes', not the database server's): on a machine busy with
other work they move less than the wall times. Peak memory is this process's (Delta is written
in the calling process). The load average is printed; compare ratios of one run only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow
import pyarrow.parquet

sys.path.insert(0, str(Path(__file__).parent))
from bench_integrator import NAMES, POSTGRES, Postgres, integrate, rows, timed

from pdip.integrator import Connection, Integration


def arrow_table(count: int) -> pyarrow.Table:
    columns = list(zip(*rows(count), strict=True))
    return pyarrow.table({name: list(values) for name, values in zip(NAMES, columns, strict=True)})


def interleaved(runs: dict, rounds: int, clean) -> dict[str, tuple[float, float]]:
    """The median wall and CPU seconds of each of `runs`, run in turn once per round, `clean`
    before each."""
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, function in runs.items():
            clean()
            found[name].append(timed_with_cpu(function))
    return {
        name: (statistics.median(wall for wall, _ in times), statistics.median(cpu for _, cpu in times))
        for name, times in found.items()
    }


def timed_with_cpu(function) -> tuple[float, float]:
    """Wall seconds of `function()`, and the CPU seconds of this process and of the processes it
    started and waited for (a run's readers)."""
    before = os.times()
    wall = timed(function)
    after = os.times()
    used = ("user", "system", "children_user", "children_system")
    return wall, sum(getattr(after, name) - getattr(before, name) for name in used)


def adbc_table(dsn: str, table: str) -> pyarrow.Table:
    """The PostgreSQL table as Arrow, read by ADBC's driver."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return cursor.fetch_arrow_table()


def delta_pairs(table: pyarrow.Table, folder: Path, args, database: Postgres | None) -> None:
    from deltalake import write_deltalake

    parquet = folder / "source.parquet"
    pyarrow.parquet.write_table(table, parquet)
    target = folder / "delta"

    def clean() -> None:
        shutil.rmtree(target, ignore_errors=True)

    def through(source: Connection, **options) -> None:
        integrate(
            Integration(
                "to-delta",
                source=source,
                target=Connection("delta", {"path": str(target)}),
                create_target=True,
                **sizes(args),
                **options,
            ),
            str(folder),
        )

    runs = {
        "library": lambda: write_deltalake(str(target), table),
        "library reading": lambda: write_deltalake(str(target), pyarrow.parquet.read_table(parquet)),
        "parquet": lambda: through(Connection("parquet", {"path": str(parquet)})),
        # chosen columns rule out ranges of the file: it is decoded and written again
        "parquet decoded": lambda: through(Connection("parquet", {"path": str(parquet)}), columns=NAMES),
    }
    adbc = database is not None and importlib.util.find_spec("adbc_driver_postgresql") is not None
    if database is not None:
        source = database.table("pdip_bench_lake", filled=True)
        runs["postgres"] = lambda: through(Connection("postgresql", {"url": POSTGRES, "table": source}))
    if adbc:
        runs["adbc reading"] = lambda: write_deltalake(str(target), adbc_table(database.dsn, source))
    medians = interleaved(runs, args.rounds, clean)
    report("Parquet -> Delta", len(table), medians["library"], medians["parquet"])
    report("  (library reading)", len(table), medians["library reading"], medians["parquet"])
    report("Parquet -> Delta, decoded", len(table), medians["library"], medians["parquet decoded"])
    report("  (library reading)", len(table), medians["library reading"], medians["parquet decoded"])
    if database is not None:
        report("PostgreSQL -> Delta", len(table), medians["library"], medians["postgres"])
    if adbc:
        report("  (ADBC reading)", len(table), medians["adbc reading"], medians["postgres"])


def iceberg_pair(table: pyarrow.Table, folder: Path, args) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    parquet = folder / "source.parquet"
    settings = {"catalog_uri": f"sqlite:///{folder}/catalog.db", "warehouse": str(folder / "lake")}
    catalog = SqlCatalog("pdip", uri=settings["catalog_uri"], warehouse=f"file://{folder}/lake")
    catalog.create_namespace_if_not_exists("bench")

    def clean() -> None:
        for name in ("bench.native", "bench.pdip"):
            if catalog.table_exists(name):
                catalog.drop_table(name)

    def through(**options) -> None:
        integrate(
            Integration(
                "to-iceberg",
                source=Connection("parquet", {"path": str(parquet)}),
                target=Connection("iceberg", {**settings, "table": "bench.pdip"}),
                create_target=True,
                **sizes(args),
                **options,
            ),
            str(folder),
        )

    runs = {
        "library": lambda: catalog.create_table("bench.native", schema=table.schema).append(table),
        "pdip": through,
        "pdip decoded": lambda: through(columns=NAMES),
    }
    medians = interleaved(runs, args.rounds, clean)
    report("Parquet -> Iceberg", len(table), medians["library"], medians["pdip"])
    report("Parquet -> Iceberg, decoded", len(table), medians["library"], medians["pdip decoded"])


def sizes(args) -> dict:
    return {} if args.batch_size is None else {"batch_size": args.batch_size}


def report(label: str, count: int, baseline: tuple[float, float], measured: tuple[float, float]) -> None:
    """A pair's medians: wall seconds and their ratio, then CPU seconds and theirs."""
    (wall, cpu), (pdip_wall, pdip_cpu) = baseline, measured
    print(
        f"{label:<28} {count:>10,} rows  library {wall:6.2f}s  pdip {pdip_wall:6.2f}s (medians)  "
        f"ratio {wall / pdip_wall:4.2f}  |  CPU library {cpu:5.2f}s  pdip {pdip_cpu:5.2f}s  ratio {cpu / pdip_cpu:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, help="default: the integration's (10,000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    table = arrow_table(args.rows)
    database = None if args.skip_postgres else Postgres(args.rows)
    with tempfile.TemporaryDirectory(prefix="pdip-bench-lake-") as name:
        try:
            delta_pairs(table, Path(name), args, database)
            iceberg_pair(table, Path(name), args)
        finally:
            if database is not None:
                database.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"peak memory of this process: {peak:.0f} MiB; load average (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
