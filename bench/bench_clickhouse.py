"""ClickHouse inserts: pdip's ClickHouse target against clickhouse-connect's own `insert_arrow` of
the same data, measured in the same run (the goal: at least 0.8 of it).

    python bench/bench_clickhouse.py                 # chDB in this process, 2,000,000 rows
    python bench/bench_clickhouse.py --url http://default@127.0.0.1:8123/default --rows 5000000

Prints rows per second of each, their ratio, and the peak memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import clickhouse_connect
import pyarrow

from pdip.integrator import Connection
from pdip.integrator.adapters.clickhouse import ClickHouseTarget
from pdip.integrator.batch import Batch

COLUMNS = (
    "id Nullable(Int64), amount Nullable(Decimal(18, 2)), label Nullable(String), at Nullable(DateTime64(6, 'UTC'))"
)


def data(rows: int, batch_size: int) -> list[pyarrow.RecordBatch]:
    import datetime as dt
    import decimal

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    schema = pyarrow.schema(
        [
            ("id", pyarrow.int64()),
            ("amount", pyarrow.decimal128(18, 2)),
            ("label", pyarrow.string()),
            ("at", pyarrow.timestamp("us", tz="UTC")),
        ]
    )
    batches = []
    for first in range(0, rows, batch_size):
        ids = range(first, min(rows, first + batch_size))
        batches.append(
            pyarrow.RecordBatch.from_pydict(
                {
                    "id": list(ids),
                    "amount": [decimal.Decimal(number % 100000) / 100 for number in ids],
                    "label": [f"label {number}" for number in ids],
                    "at": [start + dt.timedelta(seconds=number) for number in ids],
                },
                schema=schema,
            )
        )
    return batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="a ClickHouse server (default: chDB in a temporary folder)")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=100_000)
    arguments = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="pdip-bench-chdb-")
    dsn = arguments.url or f"chdb://{folder}"
    client = clickhouse_connect.get_client(dsn=dsn)
    batches = data(arguments.rows, arguments.batch_size)
    timings = {}
    for name in ("insert_arrow", "pdip"):
        table = f"bench_{name}"
        client.command(f"DROP TABLE IF EXISTS {table}")
        client.command(f"CREATE TABLE {table} ({COLUMNS}) ENGINE = MergeTree ORDER BY tuple()")
        began = time.perf_counter()
        if name == "insert_arrow":
            for record in batches:
                client.insert_arrow(table, pyarrow.Table.from_batches([record]))
        else:
            settings = {"url": dsn, "table": table} if arguments.url else {"database": folder, "table": table}
            target = ClickHouseTarget(Connection("clickhouse" if arguments.url else "chdb", settings), None)
            target.prepare([field.name for field in batches[0].schema], create=False, truncate=False)
            for record in batches:
                batch = Batch.from_arrow(record)
                batch.types = record.schema
                target.write(batch)
            target.close()
        timings[name] = time.perf_counter() - began
        assert client.query(f"SELECT count() FROM {table}").result_rows[0][0] == arguments.rows
    for name, seconds in timings.items():
        print(f"{name:>13}: {arguments.rows / seconds:12,.0f} rows/s ({seconds:.2f} s)")
    print(f"ratio pdip / insert_arrow: {timings['insert_arrow'] / timings['pdip']:.2f} (goal: >= 0.80)")
    print(
        f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; engine: {dsn.split(':')[0]}"
    )


if __name__ == "__main__":
    main()
