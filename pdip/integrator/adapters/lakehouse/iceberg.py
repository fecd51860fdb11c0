"""Apache Iceberg tables as source and target, through pyiceberg and its SQL catalog: `kind: iceberg`.

    source: {kind: iceberg, catalog_uri: "sqlite:///catalog.db", table: sales.orders, snapshot_id: 42}
    target: {kind: iceberg, catalog_uri: "postgresql+psycopg://...", warehouse: lake, table: sales.orders}

The catalog is a SQL database (SQLite or PostgreSQL: pyiceberg's `SqlCatalog`) holding where each
table's current metadata is; a created table's files go under `warehouse`. A source reads one
snapshot (the current one, or `snapshot_id`) as Arrow record batches of `batch_size` rows; its
position is that snapshot and the rows read. A target gathers full batches, up to `commit_rows`
rows or `commit_megabytes` of Arrow data (a shorter batch commits at once what is gathered), and
appends them in one Iceberg commit whose table properties carry the last batch's position
(`pdip.position.<slot>`, set in the same transaction). Until their commit the batches are
neither reported nor acknowledged (`Target.holding`): a resumed run goes on right after the last
batch the table holds.

`write: replace` deletes the table's rows and appends every batch in one transaction committed
when the whole integration succeeded: readers see the old rows or the new ones (a resumed run
starts over). A source column the table lacks is added (`union_by_name`), refused or dropped as
the integration's `schema` says. `write: merge` is not offered: it is refused before any data moves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from pdip.configuration.settings import Setting
from pdip.conversion.tagged import dumps, loads
from pdip.integrator.adapters.base import (
    Adapter,
    Capabilities,
    Disposition,
    ReadRequest,
    Source,
    Target,
    WriteResult,
    partition_slot,
)
from pdip.integrator.adapters.lakehouse import adopted, tables
from pdip.integrator.adapters.sql import evolution
from pdip.integrator.batch import ARROW, Batch
from pdip.integrator.errors import OperationError, needs

POSITION = "pdip.position."  # a table property per slot
CREATED = "pdip.created"
FORMAT_VERSIONS = ("1", "2")
# how pyiceberg's metadata model refuses a format version it does not know
UNKNOWN_VERSION = re.compile(r"Input tag '([^']*)' found using 'format_version'.*? expected tags: ([^\[\n]*?)\s*\[")
SETTINGS = (
    Setting(
        "catalog_uri",
        str,
        required=True,
        secret=True,
        help="the SQL catalog's database as a SQLAlchemy URL: `sqlite:///catalog.db` (relative to the "
        "application's root) or `postgresql+psycopg://...`",
    ),
    Setting("catalog", str, default="pdip", help="the catalog's name in that database"),
    Setting("table", str, required=True, help="the table, as `namespace.table`"),
    Setting(
        "warehouse",
        str,
        help="where a created table's files go: a folder (relative to the application's root) or a URL",
    ),
    Setting("snapshot_id", int, help="a source reads this snapshot (time travel); default: the current one"),
    Setting("partition_by", list[str], help="the columns a table pdip creates is partitioned by (identity)"),
    Setting("format_version", int, default=2, allowed=FORMAT_VERSIONS, help="the format version of a created table"),
    Setting(
        "properties",
        dict[str, str],
        secret=True,
        help="other catalog properties (`s3.endpoint`, `s3.access-key-id`, ...)",
    ),
    *tables.COMMIT_SETTINGS,
)


def _module(name: str) -> Any:
    return needs(name, "iceberg connections", "iceberg")


def label(connection) -> str:
    return f"iceberg connection {connection.name!r}" if connection.name else "iceberg connection"


def reason(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


class IcebergConnection:
    """The catalog and table a connection names; errors name the connection and the setting,
    and never show the catalog's URL (it may hold a password)."""

    def __init__(self, connection, context):
        self.connection, self.context = connection, context
        self.label = label(connection)
        self.name = str(connection.get("table") or "")
        if self.name.count(".") < 1:
            raise OperationError(f"{self.label}: table: expected `namespace.table`, got {self.name!r}")
        self._catalog: Any = None

    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            sql = _module("pyiceberg.catalog.sql")
            uri = str(self.connection.get("catalog_uri") or "")
            properties = {str(key): str(value) for key, value in (self.connection.get("properties") or {}).items()}
            warehouse = self.connection.get("warehouse")
            if warehouse:
                folder = tables.location(str(warehouse), self.context)
                properties["warehouse"] = folder if "://" in folder else f"file://{folder}"
            try:
                self._catalog = sql.SqlCatalog(
                    self.connection.get("catalog") or "pdip", uri=self._local(uri), **properties
                )
            except Exception as error:  # noqa: BLE001 - the driver's error, told without the URL
                raise OperationError(
                    f"{self.label}: catalog_uri: cannot open the catalog: {self.scrubbed(error)}"
                ) from None
        return self._catalog

    def _local(self, uri: str) -> str:
        """A SQLite catalog's relative file, against the application's root."""
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri[len(prefix) :].startswith(("/", ":memory:")):
            return prefix + tables.location(uri[len(prefix) :], self.context)
        return uri

    def scrubbed(self, error: Exception) -> str:
        uri = str(self.connection.get("catalog_uri") or "")
        secrets = [
            uri,
            *re.findall(r"://[^:/@]*:([^@]+)@", uri),
            *map(str, (self.connection.get("properties") or {}).values()),
        ]
        text = reason(error)
        for secret in filter(None, secrets):
            text = text.replace(secret, "***")
        return text

    def load(self) -> Any:
        """The table, or None when the catalog has none of that name."""
        exceptions = _module("pyiceberg.exceptions")
        try:
            return self.catalog.load_table(self.name)
        except (exceptions.NoSuchTableError, exceptions.NoSuchNamespaceError):
            return None
        except Exception as error:  # noqa: BLE001 - the catalog's or the driver's error, told
            version = UNKNOWN_VERSION.search(str(error))
            if version:
                raise OperationError(
                    f"{self.label}: table: {self.name!r} has table format version {version[1]}, which this "
                    f"pyiceberg cannot read (it reads {version[2]})"
                ) from None
            raise OperationError(f"{self.label}: table: cannot load {self.name!r}: {self.scrubbed(error)}") from None


def arrow_schema(table: Any) -> Any:
    """The table's schema in Arrow, text as `string` (what a batch of it holds)."""
    import pyarrow

    return pyarrow.schema([tables.common_field(field) for field in table.schema().as_arrow()])


# -- reading ------------------------------------------------------------------------------------


class IcebergSource(Source):
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.iceberg = IcebergConnection(connection, context)

    def _table(self) -> Any:
        table = self.iceberg.load()
        if table is None:
            raise OperationError(f"{self.iceberg.label}: table: the catalog has no table {self.iceberg.name!r}")
        return table

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """One snapshot's rows, in batches of `batch_size`; a resumed read goes on in the snapshot
        it was reading, after the rows it had read."""
        import pyarrow.compute

        table = self._table()
        resume = request.resume if isinstance(request.resume, dict) else {}
        snapshot = resume.get("snapshot") or self.connection.get("snapshot_id")
        if snapshot is None:
            current = table.current_snapshot()
            if current is None:
                return  # a table no commit has filled yet
            snapshot = current.snapshot_id
        elif table.snapshot_by_id(int(snapshot)) is None:
            raise OperationError(
                f"{self.iceberg.label}: snapshot_id: table {self.iceberg.name!r} has no snapshot {snapshot}"
            )
        schema = self._wanted(table, request)
        scan = table.scan(selected_fields=tuple(schema.names), snapshot_id=int(snapshot))
        skip, count = int(resume.get("row", 0)), 0
        for part in scan.to_arrow_batch_reader():
            for offset in range(0, part.num_rows, request.batch_size):
                record = part.slice(offset, request.batch_size)
                start, count = count, count + record.num_rows
                if count <= skip:
                    continue
                record = record.slice(max(0, skip - start)).cast(schema)
                if request.cursor is not None and request.after is not None:
                    record = record.filter(pyarrow.compute.greater(record.column(request.cursor), request.after))
                batch = Batch.from_arrow(record, position={"snapshot": int(snapshot), "row": count})
                batch.partition, batch.types = request.partition, schema
                yield batch

    def schema(self, request: ReadRequest) -> Any:
        return self._wanted(self._table(), request)

    def _wanted(self, table: Any, request: ReadRequest) -> Any:
        return tables.wanted_schema(arrow_schema(table), request, f"{self.iceberg.label}: table {self.iceberg.name!r}")

    def describe(self) -> str:
        return f"iceberg:{self.iceberg.name}"


# -- writing ------------------------------------------------------------------------------------


class IcebergTarget(Target):
    batch_rows = tables.BATCH_ROWS

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.iceberg = IcebergConnection(connection, context)
        self._create = self._truncate = False
        self._table: Any = None
        self._schema: Any = None
        self._replacing: Any = None  # the open transaction of `write: replace`
        self._held = tables.Gathering(connection)  # the next commit's batches
        self._adoption = adopted.Adoption()  # whole Parquet files added as they are

    @property
    def disposition(self) -> Disposition:
        return self._disposition

    @disposition.setter
    def disposition(self, value: Disposition) -> None:
        """A replacing run commits once, at the end: a resumed one starts over."""
        self._disposition = value
        self.commits_per_batch = value.write != "replace"

    _disposition = Disposition()

    def accepts(self) -> tuple[str, ...]:
        """Arrow record batches as they come (a PostgreSQL source decodes its COPY into Arrow),
        and ranges of local Parquet files, which may be added to the table as they are."""
        return (ARROW, adopted.RAW_FORMAT)

    # -- positions ------------------------------------------------------------------------------

    def durable_position(self, slot: str) -> Any:
        table = self.iceberg.load()
        stored = None if table is None else table.properties.get(POSITION + slot)
        return None if stored is None else loads(stored)

    def forget_positions(self, slot: str) -> None:
        table = self.iceberg.load()
        keys = [] if table is None else slot_keys(table.properties, slot)
        if keys:
            with table.transaction() as transaction:
                transaction.remove_properties(*keys)

    # -- the table ------------------------------------------------------------------------------

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        self._create, self._truncate = create, truncate
        if types is not None and columns and (create or truncate):
            self._make_ready(Batch(list(columns), [], types=types))

    def _make_ready(self, batch: Batch) -> None:
        table = self.iceberg.load()
        if table is None:
            if not self._create:
                raise OperationError(
                    f"{self.iceberg.label}: table: the catalog has no table {self.iceberg.name!r}; "
                    "set create_target: true to create it"
                )
            table = self._create_table(batch)
        elif self._truncate:
            choice, chosen_by = tables.schema_choice(self.schema_changes, table.properties.get(CREATED) == "true")
            added = [name for name in batch.columns if name not in arrow_schema(table).names]
            evolution.refuse(evolution.Difference(added, []), self.iceberg.name, choice, chosen_by)
            table.delete(_module("pyiceberg.expressions").AlwaysTrue())
        if self.disposition.write == "replace":
            self._replacing = table.transaction()
            self._replacing.delete(_module("pyiceberg.expressions").AlwaysTrue())
        self._table, self._schema = table, arrow_schema(table)
        self._adoption.allowed = table.spec().is_unpartitioned()

    def _create_table(self, batch: Batch) -> Any:
        schema = tables.new_schema(batch, tables.common_field)
        partitions = list(self.connection.get("partition_by") or [])
        missing = [name for name in partitions if name not in schema.names]
        if missing:
            raise OperationError(
                f"{self.iceberg.label}: partition_by: the source has no column {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(schema.names)})"
            )
        namespace = self.iceberg.name.rsplit(".", 1)[0]
        version = str(self.connection.get("format_version") or 2)
        catalog = self.iceberg.catalog
        try:
            catalog.create_namespace_if_not_exists(namespace)
            table = catalog.create_table(
                self.iceberg.name, schema=schema, properties={"format-version": version, CREATED: "true"}
            )
        except Exception as error:  # noqa: BLE001 - the catalog's error, told with the setting
            raise OperationError(
                f"{self.iceberg.label}: table: cannot create {self.iceberg.name!r} (is warehouse set?): "
                f"{self.iceberg.scrubbed(error)}"
            ) from None
        if partitions:
            with table.update_spec() as spec:
                for name in partitions:
                    spec.add_identity(name)
        return table

    # -- batches --------------------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        if self._table is None:
            self._make_ready(batch)
        slot = None if self.position_slot is None else partition_slot(self.position_slot, batch.partition)
        full = len(batch) >= self.batch_size > 0
        if batch.raw_format == adopted.RAW_FORMAT:
            if self._adoption.takes(batch, self._schema):
                self._adoption.hold(self._held, batch, slot, batch.position, full, self._commit_held)
                return WriteResult(len(batch), [])
            batch = self._adoption.reader.batch(batch)
        choice, chosen_by = tables.schema_choice(self.schema_changes, self._table.properties.get(CREATED) == "true")
        fitted = tables.lacking(batch, self._schema.names, self.iceberg.name, choice, chosen_by) or evolution.Fitted(
            batch
        )
        batch = fitted.batch
        added = [name for name in batch.columns if name not in self._schema.names]
        if added:  # schema: evolve, after what is gathered (of the schema before) is committed
            self._commit_held()
            fitted.changes = self._evolve(batch, added)
        record, rejected = tables.fit(batch, self._schema)
        told = fitted.told(WriteResult(record.num_rows, rejected))
        told.rejected = self.refusing(told.rejected)  # stored before a commit carries a position past them
        if self._held.other(slot) or self._held.named:
            self._commit_held()
        self._held.add(record, slot, batch.position)
        if self._held.due(full=full):
            self._commit_held()
        return told

    def _evolve(self, batch: Batch, added: list[str]) -> list[str]:
        """`schema: evolve`: the columns added to the table, of the source's declared types (a
        commit of their own, or a step of the replacing transaction)."""
        import pyarrow

        fields = [field for field in tables.new_schema(batch, tables.common_field) if field.name in added]
        transaction = self._replacing or self._table.transaction()
        with transaction.update_schema() as update:
            update.union_by_name(pyarrow.schema(fields))
        if self._replacing is None:
            self._table = transaction.commit_transaction()
        self._schema = pyarrow.schema([*self._schema, *fields])
        return [f"added column {field.name!r} {field.type}" for field in fields]

    def holding(self) -> bool:
        return self._held.batches > 0

    def _commit_held(self) -> None:
        """The batches gathered, appended in one commit that sets the last one's position (or,
        replacing, in the transaction committed at the end)."""
        if not self.holding():
            return
        slot, named = self._held.slot, self._held.named
        record, position = self._held.take()
        transaction = self._replacing or self._table.transaction()
        if named and adopted.whole(named):  # a whole file: copied into the table as it is
            location = self._table.metadata.location
            transaction.add_files([adopted.copied_to_iceberg(self._table.io, named[0].path, location)])
        elif named:
            transaction.append(self._adoption.reader.rows(named).cast(self._schema))
        elif record.num_rows:
            transaction.append(record)
        if slot is not None:
            transaction.set_properties({POSITION + slot: dumps(position)})
        if self._replacing is None:
            self._table = transaction.commit_transaction()

    def finish(self) -> None:
        """`write: replace`: the deletion and every batch, committed at once; the run's positions
        go with it. What is gathered is committed first."""
        self._commit_held()
        if self.disposition.write != "replace":
            return
        if self._table is None:
            self._make_ready(Batch([], []))
        keys = slot_keys(self._replacing.table_metadata.properties, self.position_slot)
        if keys:
            self._replacing.remove_properties(*keys)
        self._table = self._replacing.commit_transaction()
        self._replacing = None

    def close(self) -> None:
        self._adoption.reader.close()

    def describe(self) -> str:
        return f"iceberg:{self.iceberg.name}"


def slot_keys(properties: Any, slot: str | None) -> list[str]:
    """The table properties holding the positions of `slot` and its partitions."""
    return [key for key in properties if key == f"{POSITION}{slot}" or key.startswith(f"{POSITION}{slot}/")]


ADAPTER = Adapter(
    ("iceberg",),
    IcebergSource,
    IcebergTarget,
    Capabilities(bulk_load=True, replace=True, transactions=True, stores_positions=True, writes_without_gil=True),
    settings=SETTINGS,
)
