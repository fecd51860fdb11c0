"""`pdip demo`: a small job on the embedded defaults, to see pdip work right after installing.

It writes an application.yml into a folder, starts a `Pdi` there, and lets the container build
a job that moves generated sensor readings from memory into SQLite, then exports a per-sensor
summary from SQLite to a CSV file. Until the integrator lands, this shows the spine it stands
on: configuration, discovery-free resolution by type, singletons with cleanup, and logging.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from pdip.base import Pdi
from pdip.configuration import BaseConfig, Configuration, DatabaseConfig
from pdip.dependency import ISingleton
from pdip.logging.loggers.console import ConsoleLogger

APPLICATION_YML = """\
APPLICATION:
  NAME: pdip-demo
DATABASE:
  TYPE: sqlite
  DATABASE: demo.db
DEMO:
  ROWS: {rows}
  SENSORS: 8
"""


class DemoConfig(BaseConfig):
    rows: int = 1000
    sensors: int = 8
    batch_size: int = 500


class ReadingSource(ISingleton):
    """Readings made up in memory: (id, sensor, value)."""

    def __init__(self, config: DemoConfig):
        self.config = config

    def batches(self) -> Iterator[list[dict]]:
        batch = []
        for number in range(1, self.config.rows + 1):
            batch.append(
                {"id": number, "sensor": f"sensor-{number % self.config.sensors}", "value": (number * 37) % 101 / 10}
            )
            if len(batch) == self.config.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class ReadingStore(ISingleton):
    """The `readings` table in the configured database; its engine is disposed at cleanup."""

    def __init__(self, database: DatabaseConfig, configuration: Configuration):
        self.engine = sa.create_engine(database.url(configuration.root_directory))
        self.table = sa.Table(
            "readings",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("sensor", sa.String(40), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
        )
        self.table.metadata.drop_all(self.engine)
        self.table.metadata.create_all(self.engine)

    def write(self, rows: list[dict]) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), rows)

    def summary(self) -> list[tuple[str, int, float]]:
        columns = self.table.c
        query = (
            sa.select(columns.sensor, sa.func.count(), sa.func.round(sa.func.avg(columns.value), 3))
            .group_by(columns.sensor)
            .order_by(columns.sensor)
        )
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def close(self) -> None:
        self.engine.dispose()


class DemoJob:
    def __init__(self, source: ReadingSource, store: ReadingStore, configuration: Configuration, logger: ConsoleLogger):
        self.source, self.store, self.configuration, self.logger = source, store, configuration, logger

    def run(self) -> Path:
        started = time.perf_counter()
        moved = 0
        for batch in self.source.batches():
            self.store.write(batch)
            moved += len(batch)
        self.logger.info("moved readings from memory to SQLite", rows=moved)
        export = Path(self.configuration.root_directory) / "sensor_summary.csv"
        with export.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["sensor", "readings", "average"])
            writer.writerows(self.store.summary())
        seconds = time.perf_counter() - started
        self.logger.info("exported the per-sensor summary", file=str(export), seconds=round(seconds, 3))
        return export


def run_demo(directory: str | None = None, rows: int = 1000) -> Path:
    """Run the demo in `directory` (a new temporary folder if None); returns the CSV it wrote."""
    root = Path(directory or tempfile.mkdtemp(prefix="pdip-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "application.yml").write_text(APPLICATION_YML.format(rows=rows), encoding="utf-8")
    with Pdi(root_directory=root) as pdi:
        export = pdi.get(DemoJob).run()
    print(f"pdip demo: {rows} rows moved to {root / 'demo.db'}; summary in {export}")
    return export
