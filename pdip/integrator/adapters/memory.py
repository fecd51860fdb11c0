"""In-memory stores: named lists of records inside the process, as source and target.

For tests and glue code: `integrator.stores["orders"] = [{"id": 1}, ...]` before a run, and read
`integrator.stores["copy"]` after. A store also accepts a pandas DataFrame or an Arrow table.
Settings: `store` (the name).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError
from pdip.integrator.types import python_values


class MemoryStores(dict):
    """The named stores of one Integrator (never shared between applications)."""

    def records(self, name: str) -> list[dict[str, Any]]:
        value = self.get(name)
        if value is None:
            raise OperationError(f"memory store {name!r} does not exist (known: {', '.join(sorted(self)) or 'none'})")
        if hasattr(value, "to_pylist"):  # an Arrow table or record batch
            names = value.schema.names
            columns = [python_values(value.column(name)) for name in names]
            return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        if hasattr(value, "to_dict"):  # a pandas DataFrame
            return value.to_dict(orient="records")
        return list(value)

    def schema(self, name: str) -> Any:
        """The Arrow schema of a store that has one (an Arrow table, a DataFrame); a list of
        records knows no types."""
        value = self.get(name)
        if hasattr(value, "schema"):
            return value.schema
        if hasattr(value, "to_dict"):
            import pyarrow

            return pyarrow.Schema.from_pandas(value, preserve_index=False)
        return None


def store_name(connection) -> str:
    name = connection.get("store")
    if not name:
        raise OperationError("a memory connection needs `store: <name>`")
    return str(name)


class MemorySource(Source):
    def read(self, request: ReadRequest) -> Iterator[Batch]:
        records = self.context.stores.records(store_name(self.connection))
        if request.cursor is not None and request.after is not None:
            records = [
                record
                for record in records
                if record.get(request.cursor) is not None and record[request.cursor] > request.after
            ]
            records.sort(key=lambda record: record[request.cursor])
        columns = list(request.columns) if request.columns else (list(records[0]) if records else [])
        first = request.resume or 0  # a position is how many records were read
        types = self.schema(request)
        for start in range(first, len(records), request.batch_size):
            chunk = records[start : start + request.batch_size]
            batch = Batch.from_dicts(chunk, columns, position=start + len(chunk))
            batch.types = types
            yield batch

    def schema(self, request: ReadRequest) -> Any:
        """What the store knows of its columns (an Arrow table's or a DataFrame's types)."""
        schema = self.context.stores.schema(store_name(self.connection))
        if schema is None or not request.columns:
            return schema
        import pyarrow

        return pyarrow.schema([schema.field(name) for name in request.columns if name in schema.names])

    def describe(self) -> str:
        return f"memory:{self.connection.get('store')}"


class MemoryTarget(Target):
    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        stores, name = self.context.stores, store_name(self.connection)
        if truncate or name not in stores:
            stores[name] = []

    def write(self, batch: Batch) -> WriteResult:
        self.context.stores[store_name(self.connection)].extend(batch.to_dicts())
        return WriteResult(written=len(batch))

    def describe(self) -> str:
        return f"memory:{self.connection.get('store')}"


SETTINGS = (Setting("store", str, required=True, help="the name of the store in `integrator.stores`"),)
ADAPTER = Adapter(("memory",), MemorySource, MemoryTarget, Capabilities(in_process_only=True), settings=SETTINGS)
