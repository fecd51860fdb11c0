"""`pdip demo`: the main job on embedded defaults, to see pdip work right after installing.

It writes a CSV of generated sensor readings into a folder, then runs one operation there:
CSV -> SQLite (the table created from the data), SQLite (a query) -> Parquet, and Parquet ->
an in-memory store, and prints what each integration moved. Nothing but the folder is touched,
and no server is needed.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from pathlib import Path

from pdip.base import Pdi
from pdip.integrator import Connection, ExecutionResult, Integration, Operation
from pdip.integrator.base import Integrator
from pdip.integrator.events import IntegrationFinished

READING_TYPES = {"id": "int", "sensor": "text", "value": "float", "taken_at": "datetime", "ok": "bool"}


def write_readings(path: Path, rows: int) -> None:
    """`rows` readings from 8 sensors, one per second, with every 97th reading flagged bad."""
    start = dt.datetime(2026, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(READING_TYPES)
        for number in range(1, rows + 1):
            taken = (start + dt.timedelta(seconds=number)).isoformat()
            writer.writerow(
                [number, f"sensor-{number % 8}", round((number * 37) % 1001 / 10, 1), taken, number % 97 != 0]
            )


def demo_operation() -> Operation:
    database = {"database": "readings.db"}
    return Operation(
        "pdip-demo",
        [
            Integration(
                "csv-to-sqlite",
                source=Connection("csv", {"path": "readings.csv", "types": READING_TYPES}),
                target=Connection("sqlite", {**database, "table": "readings"}),
                create_target=True,
                truncate_target=True,
                batch_size=20_000,
            ),
            Integration(
                "sqlite-to-parquet",
                source=Connection(
                    "sqlite", {**database, "query": "SELECT id, sensor, value, taken_at FROM readings WHERE ok"}
                ),
                target=Connection("parquet", {"path": "good_readings.parquet"}),
                batch_size=20_000,
            ),
            Integration(
                "parquet-to-memory",
                source=Connection("parquet", {"path": "good_readings.parquet"}),
                target=Connection("memory", {"store": "good_readings"}),
                batch_size=20_000,
            ),
        ],
    )


def run_demo(directory: str | None = None, rows: int = 300_000) -> ExecutionResult:
    """Run the demo in `directory` (a new temporary folder if None) and print a summary."""
    root = Path(directory or tempfile.mkdtemp(prefix="pdip-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    write_readings(root / "readings.csv", rows)
    with Pdi(root_directory=root) as pdi:
        integrator = pdi.get(Integrator)
        integrator.subscribe(IntegrationFinished, _print_finished)
        result = integrator.integrate(demo_operation())
        kept = len(integrator.stores.get("good_readings", []))
    status = "finished" if result.ok else "FAILED"
    print(f"pdip demo {status} in {result.seconds:.2f} s in {root}: {rows:,} readings, {kept:,} good ones in memory")
    return result


def _print_finished(event: IntegrationFinished) -> None:
    rate = event.rows_written / event.elapsed if event.elapsed else 0
    print(f"  {event.integration:<18} {event.rows_written:>9,} rows  {event.elapsed:6.2f} s  {rate:>10,.0f} rows/s")
