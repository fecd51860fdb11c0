"""Parquet files for the tests of files adopted by a table (`lakehouse/adopted.py`), and a run
left unfinished so that the next may resume."""

from __future__ import annotations

import pyarrow
import pyarrow.parquet

from pdip.integrator import Connection, Integration
from pdip.integrator.events import IntegrationStarted

INT64 = pyarrow.int64()


class ParquetFiles:
    """Mixed in before an `IntegratorCase`."""

    def parquet(self, name: str, ids: list, kind=INT64, metadata=None) -> str:
        """A file of `ids` (of `kind`) and their names `n<id>` under the test's folder."""
        schema = pyarrow.schema([pyarrow.field("id", kind, metadata=metadata), ("name", pyarrow.string())])
        table = pyarrow.table({"id": ids, "name": [f"n{i}" for i in ids]}, schema=schema)
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pyarrow.parquet.write_table(table, path)
        return name

    def copy(self, path: str, target: Connection, **options) -> Integration:
        source = Connection("parquet", {"path": path})
        return Integration("many", source=source, target=target, create_target=True, **options)

    def unfinished(self, integration: Integration) -> None:
        """`integration` run and stopped as it starts: the operation has a run to resume."""
        stops = [KeyboardInterrupt]

        def stop(event: IntegrationStarted) -> None:
            if stops:
                raise stops.pop()

        self.integrator.subscribe(IntegrationStarted, stop)
        self.assertEqual(self.integrate(integration).status, "interrupted")
