"""Delta Lake tables as source and target, through delta-rs (`deltalake`): `kind: delta`.

    source: {kind: delta, path: lake/orders, version: 12}
    target: {kind: delta, path: "s3://lake/orders", storage_options: {AWS_ENDPOINT_URL: ...}}

A source reads one version of the table (the latest, or `version`) as Arrow record batches; its
position is that version and the rows read, so a resumed read goes on in the same version. A
target gathers full batches, up to `commit_rows` rows or `commit_megabytes` of Arrow data, into
one Delta commit carrying the last one's position in the commit's metadata (`pdip.slot`,
`pdip.position`); a batch of fewer rows than the integration's `batch_size` (the source has no
more at hand) is committed at once with those held before it. The commit's files are written
while its batches arrive, through a staging table (`staging.py`), and committed when it is due. Until their commit,
the batches held are neither reported nor acknowledged (`Target.holding`): a resumed run finds
the last position the commits hold and goes on right after it, so a crash doubles no row and
loses none (docs/adr/0006). A fresh run forgets the positions with an empty commit saying so
(`pdip.forget`), since a table's history cannot be changed.

`write: merge` folds a batch to the last row of each `key` and merges it (delta-rs's MERGE):
matched keys updated, or deleted where `delete_column` says so, the others inserted.
`write: replace` writes the batches into a twin table in a folder of the table's own
(`pdip-replace-<run>`, its commits holding the positions) and, when the whole integration
succeeded, makes the twin's files the table's in one overwrite commit: readers see the old rows
or the new ones, and the rows are written once. A source column the table lacks is added,
refused or dropped as the integration's `schema` says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from pdip.configuration.settings import Setting
from pdip.conversion.tagged import dumps, loads
from pdip.integrator.adapters.base import (
    Adapter,
    Capabilities,
    ReadRequest,
    Source,
    Target,
    WriteResult,
    partition_slot,
)
from pdip.integrator.adapters.duckdb import ReadAhead
from pdip.integrator.adapters.lakehouse import adopted, tables
from pdip.integrator.adapters.lakehouse.staging import StagedCommits, stageable
from pdip.integrator.adapters.sql import evolution
from pdip.integrator.batch import ARROW, Batch
from pdip.integrator.errors import OperationError, needs

SLOT, POSITION, FORGET = "pdip.slot", "pdip.position", "pdip.forget"
CREATED = "created by pdip"  # the description of a table pdip made (its `schema` default is evolve)
TWIN = "pdip-replace-"
HISTORY_PAGE = 64  # commits read first when looking for a position; then eight times as many, ...
SETTINGS = (
    Setting(
        "path",
        str,
        required=True,
        help="the table's folder: local (relative to the application's root) or a URL (`s3://bucket/orders`)",
    ),
    Setting(
        "storage_options",
        dict[str, str],
        secret=True,
        help="delta-rs's options for a URL: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_REGION`, ...",
    ),
    Setting("version", int, help="a source reads this version of the table (time travel); default: the latest"),
    Setting("partition_by", list[str], help="the columns a table pdip creates is partitioned by"),
    *tables.COMMIT_SETTINGS,
)


def _deltalake() -> Any:
    return needs("deltalake", "delta connections", "delta")


def label(connection) -> str:
    return f"delta connection {connection.name!r}" if connection.name else "delta connection"


def reason(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


def storable(field: Any) -> Any:
    """A field as Delta holds it: Delta has no time of day, so a time is kept as its text."""
    import pyarrow

    field = tables.common_field(field)
    return field.with_type(pyarrow.string()) if pyarrow.types.is_time(field.type) else field


class DeltaConnection:
    """The table a connection names, opened with its storage options; errors name the
    connection and the setting."""

    def __init__(self, connection, context):
        self.connection = connection
        self.label = label(connection)
        self.uri = tables.location(str(connection.get("path") or ""), context)
        self.options = {str(key): str(value) for key, value in (connection.get("storage_options") or {}).items()}

    def open(self, uri: str | None = None, version: int | None = None) -> Any:
        """The Delta table at `uri` (the connection's by default), or None when there is none."""
        deltalake = _deltalake()
        uri = uri or self.uri
        try:
            if not deltalake.DeltaTable.is_deltatable(uri, storage_options=self.options or None):
                return None
            return deltalake.DeltaTable(uri, version=version, storage_options=self.options or None)
        except (deltalake.exceptions.DeltaError, OSError) as error:
            if isinstance(error, deltalake.exceptions.DeltaProtocolError) or "Unsupported" in str(error):
                raise OperationError(
                    f"{self.label}: path: the table at {uri} uses a Delta protocol this deltalake cannot "
                    f"handle (an unknown table format version or feature): {reason(error)}"
                ) from None
            setting = "version" if version is not None else "path"
            message = self.scrubbed(reason(error))
            raise OperationError(f"{self.label}: {setting}: cannot open the table at {uri}: {message}") from None

    def scrubbed(self, text: str) -> str:
        for value in filter(None, self.options.values()):
            text = text.replace(value, "***")
        return text


def arrow_schema(table: Any) -> Any:
    import pyarrow

    return pyarrow.schema(table.schema().to_arrow())


# -- reading ------------------------------------------------------------------------------------


class DeltaSource(Source):
    replays_from_stored_position = True  # a crash's lost commits are read again after the target's position

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.delta = DeltaConnection(connection, context)

    def _table(self, version: int | None) -> Any:
        version = self.connection.get("version") if version is None else version
        table = self.delta.open(version=None if version is None else int(version))
        if table is None:
            raise OperationError(f"{self.delta.label}: path: no Delta table at {self.delta.uri}")
        return table

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """The table's rows in one version, as Arrow; a resumed read skips the rows it had read
        in the version it was reading, so it goes on exactly where it stopped."""
        resume = request.resume if isinstance(request.resume, dict) else {}
        table = self._table(resume.get("version"))
        version, skip = table.version(), int(resume.get("row", 0))
        schema = self._wanted(table, request)
        scanner = table.to_pyarrow_dataset().scanner(columns=schema.names, batch_size=request.batch_size)
        ahead = ReadAhead(scanner.to_batches())
        try:
            yield from self._batches(ahead, request, schema, version, skip)
        finally:
            ahead.close()

    def _batches(self, records: Any, request: ReadRequest, schema: Any, version: int, skip: int) -> Iterator[Batch]:
        import pyarrow.compute

        count = 0
        for record in iter(records):
            start, count = count, count + record.num_rows
            if count <= skip or not record.num_rows:
                continue
            record = record.slice(max(0, skip - start))
            if request.cursor is not None and request.after is not None:
                record = record.filter(pyarrow.compute.greater(record.column(request.cursor), request.after))
            batch = Batch.from_arrow(record, position={"version": version, "row": count})
            batch.partition, batch.types = request.partition, schema
            yield batch

    def schema(self, request: ReadRequest) -> Any:
        return self._wanted(self._table(None), request)

    def _wanted(self, table: Any, request: ReadRequest) -> Any:
        return tables.wanted_schema(arrow_schema(table), request, f"{self.delta.label}: the table at {self.delta.uri}")

    def describe(self) -> str:
        return f"delta:{self.delta.uri}"


# -- writing ------------------------------------------------------------------------------------


class DeltaTarget(Target):
    batch_rows = tables.BATCH_ROWS

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.delta = DeltaConnection(connection, context)
        self._create = self._truncate = False
        self._table: Any = None  # the table written: the twin, while replacing
        self._schema: Any = None  # its Arrow schema
        self._created = False
        self._key: tuple[str, ...] | None = None
        self._staged: StagedCommits | None = None  # commits streamed while their batches arrive
        self._adoption = adopted.Adoption()  # whole Parquet files added as they are
        self._held = tables.Gathering(connection)  # the next commit's (kept for a merge, column mapping)

    def accepts(self) -> tuple[str, ...]:
        """Arrow record batches as they come (a PostgreSQL source decodes its COPY into Arrow),
        and ranges of local Parquet files, which may be added to the table as they are."""
        return (ARROW, adopted.RAW_FORMAT)

    # -- positions ------------------------------------------------------------------------------

    def durable_position(self, slot: str) -> Any:
        """The position of the last commit under `slot` (in the twin, when replacing), unless a
        later commit forgot it."""
        table = self.delta.open(self._twin_uri()) if self.disposition.write == "replace" else self.delta.open()
        if table is None:
            return None
        seen, limit = 0, HISTORY_PAGE
        while True:  # newest first, reading older commits only while none has told
            commits = table.history(limit)
            for commit in commits[seen:]:
                forgotten = commit.get(FORGET)
                if forgotten is not None and (slot == forgotten or slot.startswith(f"{forgotten}/")):
                    return None
                if commit.get(SLOT) == slot:
                    return loads(commit[POSITION])
            if len(commits) < limit:
                return None
            seen, limit = len(commits), limit * 8

    def forget_positions(self, slot: str) -> None:
        """A commit of no rows saying the positions under `slot` are forgotten (a replacing run
        has a twin of its own, which knows none)."""
        table = None if self.disposition.write == "replace" else self.delta.open()
        if table is None or not any(str(commit.get(SLOT, "")).startswith(slot) for commit in table.history()):
            return
        deltalake = _deltalake()
        table.create_write_transaction(
            [],
            mode="append",
            schema=table.schema(),
            partition_by=table.metadata().partition_columns or None,
            commit_properties=deltalake.CommitProperties(custom_metadata={FORGET: slot}),
        )

    def _commit(self, batch: Batch) -> Any:
        if self.position_slot is None:
            return None
        slot = partition_slot(self.position_slot, batch.partition)
        return _deltalake().CommitProperties(custom_metadata={SLOT: slot, POSITION: dumps(batch.position)})

    def _slot(self, batch: Batch) -> str | None:
        return None if self.position_slot is None else partition_slot(self.position_slot, batch.partition)

    # -- the table ------------------------------------------------------------------------------

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool, types: Any = None) -> None:
        self._create, self._truncate = create, truncate
        if types is not None and columns and (create or truncate):
            self._make_ready(Batch(list(columns), [], types=types))

    def _make_ready(self, batch: Batch) -> None:
        """The table: created from the source's types when asked, emptied when asked; for `merge`
        its key checked, for `replace` its twin made (kept, when a run resumes into it)."""
        deltalake = _deltalake()
        table = self.delta.open()
        if table is None:
            if not self._create:
                raise OperationError(
                    f"{self.delta.label}: path: no Delta table at {self.delta.uri}; "
                    "set create_target: true to create it"
                )
            table = self._create_table(batch)
        elif self._truncate:
            self._refuse_frozen(batch, table)
            table.delete()
        self._created = table.metadata().description == CREATED
        if self.disposition.write == "merge":
            self._key = self._merge_key(table)
        if self.disposition.write == "replace":
            twin = self.delta.open(self._twin_uri())
            if twin is None:
                twin = deltalake.DeltaTable.create(
                    self._twin_uri(),
                    table.schema(),
                    partition_by=table.metadata().partition_columns or None,
                    storage_options=self.delta.options or None,
                )
            table = twin
        self._table, self._schema = table, arrow_schema(table)
        self._stage()

    def _stage(self) -> None:
        """Appends (and a replace's loads) stream each commit while its batches arrive; a merge
        needs its batches whole."""
        if self._key is None and stageable(self._table):
            uri = self._twin_uri() if self.disposition.write == "replace" else self.delta.uri
            self._staged = StagedCommits(_deltalake(), self._table, uri, self.delta.options)
        self._adoption.allowed = self._staged is not None and adopted.takes_files(self._table)

    def _create_table(self, batch: Batch) -> Any:
        schema = tables.new_schema(batch, storable)
        partitions = list(self.connection.get("partition_by") or [])
        missing = [name for name in partitions if name not in schema.names]
        if missing:
            raise OperationError(
                f"{self.delta.label}: partition_by: the source has no column {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(schema.names)})"
            )
        deltalake = _deltalake()
        try:
            return deltalake.DeltaTable.create(
                self.delta.uri,
                schema,
                partition_by=partitions or None,
                description=CREATED,
                storage_options=self.delta.options or None,
            )
        except Exception as error:  # noqa: BLE001 - delta-rs refuses a schema with a bare Exception
            message = self.delta.scrubbed(reason(error))
            raise OperationError(
                f"{self.delta.label}: path: cannot create a table at {self.delta.uri}: {message}"
            ) from None

    def _merge_key(self, table: Any) -> tuple[str, ...]:
        where = f"integration {self.disposition.integration!r}: write: merge"
        if not self.disposition.key:
            raise OperationError(f"{where} into a Delta table needs key: [...] (a Delta table has no primary key)")
        names = arrow_schema(table).names
        missing = [name for name in self.disposition.key if name not in names]
        if missing:
            raise OperationError(
                f"{where}: key: the table at {self.delta.uri} has no column {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(names)})"
            )
        flag = self.disposition.delete_column
        if flag is not None and flag not in names:
            raise OperationError(f"{where}: delete_column: the table at {self.delta.uri} has no column {flag!r}")
        return tuple(self.disposition.key)

    def _twin_uri(self) -> str:
        run = f"{self.position_slot}:{getattr(self.context, 'execution_id', '')}"
        return f"{self.delta.uri.rstrip('/')}/{TWIN}{hashlib.sha1(run.encode()).hexdigest()[:12]}"

    # -- batches --------------------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        if self._table is None:
            self._make_ready(batch)
        full = len(batch) >= self.batch_size > 0  # the source has more at hand
        if batch.raw_format == adopted.RAW_FORMAT:
            if self._adoption.takes(batch, self._schema):
                self._adoption.hold(self._held, batch, self._slot(batch), self._commit(batch), full, self._commit_held)
                return WriteResult(len(batch), [])
            batch = self._adoption.reader.batch(batch)
        choice, chosen_by = tables.schema_choice(self.schema_changes, self._created)
        fitted = tables.lacking(batch, self._schema.names, self.delta.uri, choice, chosen_by) or evolution.Fitted(batch)
        batch = fitted.batch
        added = [name for name in batch.columns if name not in self._schema.names]
        if added:  # schema: evolve, after what is held (of the schema before) is committed
            self._commit_held()
            fitted.changes = self._evolve(batch, added)
        record, rejected = tables.fit(batch, self._schema)
        told = fitted.told(WriteResult(record.num_rows, rejected))
        told.rejected = self.refusing(told.rejected)  # stored before a commit carries a position past them
        self._hold(record, batch, full=full)
        return told

    def _hold(self, record: Any, batch: Batch, full: bool) -> None:
        """Gather `record` into the next commit, which is made now unless the batch was full
        and the commit has room for more (a commit carries one slot's position)."""
        if self._held.other(self._slot(batch)) or self._held.named:
            self._commit_held()
        # a commit of this batch alone (a caught-up source, `commit_rows: 1`) is written directly:
        # staging it would make two commits of one; rows are streamed, a batch of none is kept
        streamed = (
            self._staged is not None
            and record.num_rows > 0
            and (self._staged.streaming or not self._held.due(full, record))
        )
        if streamed:
            with self._refused():
                self._staged.add(record)
        self._held.add(record, self._slot(batch), self._commit(batch), keep=not streamed)
        if self._held.due(full):
            self._commit_held()

    def holding(self) -> bool:
        return self._held.batches > 0

    def _commit_held(self) -> None:
        """The rows held, in one commit carrying the position of the last batch among them."""
        if not self.holding():
            return
        named = self._held.named
        record, commit = self._held.take()
        if named:
            self._adopt(named, commit)
            return
        if self._staged is not None and self._staged.streaming:
            with self._refused():
                self._staged.commit(commit)
            return
        self._apply(record, commit)

    def _adopt(self, ranges: list[Any], commit: Any) -> None:
        """A whole file copied into the table and named by a commit of its own; the rows of a
        part of a file (a resumed read) read and written by delta-rs."""
        if not adopted.whole(ranges):
            self._apply(self._adoption.reader.rows(ranges).cast(self._schema), commit)
            return
        written = self._twin_uri() if self.disposition.write == "replace" else self.delta.uri
        action = adopted.copied(_deltalake(), ranges[0].path, written, self.delta.options)
        with self._refused():
            self._table.create_write_transaction(
                [action], mode="append", schema=self._table.schema(), commit_properties=commit
            )

    def _evolve(self, batch: Batch, added: list[str]) -> list[str]:
        """`schema: evolve`: the columns added to the table (a commit of their own), of the
        source's declared types."""
        fields = [field for field in tables.new_schema(batch, storable) if field.name in added]
        self._table.alter.add_columns([_deltalake().Field.from_arrow(field) for field in fields])
        self._table.update_incremental()
        self._schema = arrow_schema(self._table)
        self._stage()  # a staging table of the new schema
        return [f"added column {field.name!r} {field.type}" for field in fields]

    @contextlib.contextmanager
    def _refused(self) -> Iterator[None]:
        """delta-rs's refusal of a write (a CHECK constraint, the store), naming the connection."""
        deltalake = _deltalake()
        try:
            yield
        except deltalake.exceptions.DeltaError as error:
            raise OperationError(f"{self.delta.label}: path: the table at {self.delta.uri}: {reason(error)}") from None

    def _apply(self, record: Any, commit: Any) -> None:
        deltalake = _deltalake()
        with self._refused():
            if not record.num_rows:  # the position, with no rows
                self._table.create_write_transaction(
                    [],
                    mode="append",
                    schema=self._table.schema(),
                    partition_by=self._table.metadata().partition_columns or None,
                    commit_properties=commit,
                )
            elif self._key is not None:
                self._merge(record, commit)
            else:
                deltalake.write_deltalake(self._table, record, mode="append", commit_properties=commit)

    def _merge(self, record: Any, commit: Any) -> None:
        """The last row of each key deletes it when its `delete_column` says so, and is upserted
        otherwise, in one MERGE commit."""
        import pyarrow

        numbered = record.append_column("pdip_row", pyarrow.array(range(record.num_rows), pyarrow.int64()))
        last = numbered.group_by(list(self._key)).aggregate([("pdip_row", "max")])
        keep = pyarrow.array(sorted(last.column("pdip_row_max").to_pylist()), pyarrow.int64())
        folded = record.take(keep)
        on = " AND ".join(f"t.{_quote(name)} = s.{_quote(name)}" for name in self._key)
        merger = self._table.merge(folded, on, source_alias="s", target_alias="t", commit_properties=commit)
        flag = self.disposition.delete_column
        if flag is None:
            merger.when_matched_update_all().when_not_matched_insert_all().execute()
            return
        deleted = _deleted(flag, self._schema.field(flag).type)
        merger.when_matched_delete(deleted).when_matched_update_all(f"NOT ({deleted})").when_not_matched_insert_all(
            f"NOT ({deleted})"
        ).execute()

    def _refuse_frozen(self, batch: Batch, table: Any) -> None:
        """Under `schema: freeze`, a table about to be emptied is refused first, not after."""
        choice, chosen_by = tables.schema_choice(self.schema_changes, table.metadata().description == CREATED)
        added = [name for name in batch.columns if name not in arrow_schema(table).names]
        evolution.refuse(evolution.Difference(added, []), self.delta.uri, choice, chosen_by)

    def finish(self) -> None:
        """The rows held are committed; for `write: replace`, the twin's files then become the
        table's in one overwrite commit, which forgets the run's positions."""
        self._commit_held()
        if self.disposition.write != "replace":
            return
        if self._table is None:
            self._make_ready(Batch([], []))
        deltalake = _deltalake()
        import pyarrow

        twin = self._table
        twin.update_incremental()
        prefix = self._twin_uri().rsplit("/", 1)[1]
        actions = [
            deltalake.transaction.AddAction(
                f"{prefix}/{item['path']}",
                item["size_bytes"],
                item.get("partition") or {},
                item["modification_time"],
                True,
                json.dumps({"numRecords": item["num_records"]}),
            )
            for item in pyarrow.table(twin.get_add_actions(flatten=False)).to_pylist()
        ]
        table = self.delta.open()
        metadata = {FORGET: self.position_slot} if self.position_slot else {}
        table.create_write_transaction(
            actions,
            mode="overwrite",
            schema=twin.schema(),
            partition_by=table.metadata().partition_columns or None,
            commit_properties=deltalake.CommitProperties(custom_metadata=metadata),
        )

    def close(self) -> None:
        """A commit under way when the run ends without `finish` is not made."""
        self._adoption.reader.close()
        if self._staged is not None:
            self._staged.stop()

    def describe(self) -> str:
        return f"delta:{self.delta.uri}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _deleted(flag: str, kind: Any) -> str:
    """When a `delete_column` value deletes its key (see `sql.merge.deleted`), in delta-rs's SQL."""
    import pyarrow.types as is_

    name = f"s.{_quote(flag)}"
    if is_.is_boolean(kind):
        return f"coalesce({name}, false)"
    if is_.is_integer(kind) or is_.is_floating(kind) or is_.is_decimal(kind):
        return f"coalesce({name} <> 0, false)"
    return f"{name} IS NOT NULL"


ADAPTER = Adapter(
    ("delta",),
    DeltaSource,
    DeltaTarget,
    Capabilities(
        bulk_load=True,
        upsert=True,
        replace=True,
        transactions=True,
        stores_positions=True,
        in_process_only=True,
        writes_without_gil=True,
    ),
    settings=SETTINGS,
)
