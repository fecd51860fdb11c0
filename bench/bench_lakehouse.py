"""Delta Lake and Iceberg targets against their own libraries writing the same Arrow table.

    python bench/bench_lakehouse.py [--rows 1000000] [--batch-size 250000] [--skip-postgres]

Baselines, measured in the same run: `deltalake.write_deltalake` (or pyiceberg's `append`) of the
whole Arrow table, already in memory, in one commit. pdip reads the source (a Parquet file, a
PostgreSQL table) and commits each batch with its position, so its ratio (baseline / pdip, higher
is better; the issue's target is >= 0.8 for Delta) includes reading. Peak memory is this process's
(Delta is written in the calling process). Other work on the machine moves single runs a lot:
take the best of `--repeat` runs and say how loaded the machine was.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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


def best(function, repeat: int, clean) -> float:
    found = []
    for _ in range(repeat):
        clean()
        found.append(timed(function))
    return min(found)


def delta_pairs(table: pyarrow.Table, folder: Path, args, database: Postgres | None) -> None:
    from deltalake import write_deltalake

    parquet = folder / "source.parquet"
    pyarrow.parquet.write_table(table, parquet)
    target = folder / "delta"

    def clean() -> None:
        shutil.rmtree(target, ignore_errors=True)

    baseline = best(lambda: write_deltalake(str(target), table), args.repeat, clean)
    through = best(
        lambda: integrate(
            Integration(
                "to-delta",
                source=Connection("parquet", {"path": str(parquet)}),
                target=Connection("delta", {"path": str(target)}),
                create_target=True,
                batch_size=args.batch_size,
            ),
            str(folder),
        ),
        args.repeat,
        clean,
    )
    report("Parquet -> Delta", len(table), baseline, through)
    if database is not None:
        source = database.table("pdip_bench_lake", filled=True)
        through = best(
            lambda: integrate(
                Integration(
                    "pg-to-delta",
                    source=Connection("postgresql", {"url": POSTGRES, "table": source}),
                    target=Connection("delta", {"path": str(target)}),
                    create_target=True,
                    batch_size=args.batch_size,
                ),
                str(folder),
            ),
            args.repeat,
            clean,
        )
        report("PostgreSQL -> Delta", len(table), baseline, through)


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

    def native() -> None:
        catalog.create_table("bench.native", schema=table.schema).append(table)

    baseline = best(native, args.repeat, clean)
    through = best(
        lambda: integrate(
            Integration(
                "to-iceberg",
                source=Connection("parquet", {"path": str(parquet)}),
                target=Connection("iceberg", {**settings, "table": "bench.pdip"}),
                create_target=True,
                batch_size=args.batch_size,
            ),
            str(folder),
        ),
        args.repeat,
        clean,
    )
    report("Parquet -> Iceberg", len(table), baseline, through)


def report(label: str, count: int, baseline: float, measured: float) -> None:
    print(
        f"{label:<22} {count:>10,} rows  library {baseline:6.2f}s  pdip {measured:6.2f}s  "
        f"ratio {baseline / measured:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=2)
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
