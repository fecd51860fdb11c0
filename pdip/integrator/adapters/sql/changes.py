"""SQL databases in change-log mode: the outbox as a source, a table the entries are applied to.

    source: {kind: postgresql, url: ..., table: pdip_change_log}          # the outbox, by sequence
    target: {kind: postgresql, url: ..., table: accounts_replica, key: [Id]}
    target: {kind: sqlite, database: replica.db, tables: {accounts: accounts, orders: orders}}

Source: the change-log table (`pdip_change_log`, the data layer's outbox, unless `table` says
otherwise) read in `sequence` order after the resumed position (the last sequence read), by
the data layer's `ChangeLogReader`, which never skips an entry that a transaction still in
flight holds below the newest one (it waits up to `poll_interval` for it, docs/adr/0013);
`entities: [...]` keeps only those entities. With `follow` it waits for new entries: on
PostgreSQL it is woken by each writer's commit (a trigger on the change-log table notifies it),
elsewhere it polls, quickly while entries come and every `poll_interval` seconds (default 1)
at most once they stop (`pdip.data.wakeups`).

Target: each entry is applied to its table by key (see `pdip.integrator.changes`): inserts are
upserts (PostgreSQL and SQLite `INSERT .. ON CONFLICT`, MariaDB/MySQL `ON DUPLICATE KEY
UPDATE`); updates, which carry only the columns they changed, are `UPDATE`s of the row that is
there (an update of a row the table lacks is dead-lettered with the reason, unless it carries
every column: a whole row image, upserted); deletes remove the row, or with `soft_delete:
<column>` set that column to the delete's time (`soft_delete: {column: c, value: v}` sets `v`).
`table` takes every entry (or, with `entity: <name>`, only that entity's); `tables` routes
entities to tables, and other entities are left out. `key` names the key columns (default: the
table's primary key), which must be the primary key or a unique constraint.

A batch is applied in one transaction: per table, one bulk delete, one bulk upsert per set of
columns inserted and one bulk update per set of columns updated, after folding each key's
entries into one net change. The batch's position is
written in the same transaction (`positions.py`), so a replay after a crash skips what is
already applied: an exactly-once effect. When the database refuses the bulk statements, the
batch is applied again entry by entry in savepoints: each refused entry (a value of the wrong
type, a column the table does not have) is dead-lettered with the reason, and the others land.
"""

from __future__ import annotations

import dataclasses
import operator
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from pdip.configuration.settings import Setting
from pdip.data.bulk import bulk_insert
from pdip.integrator.adapters.base import (
    Adapter,
    Capabilities,
    ReadRequest,
    Source,
    Target,
    WriteResult,
    partition_slot,
)
from pdip.integrator.adapters.sql import changes_schema, evolution, exact, positions, sqlite
from pdip.integrator.adapters.sql.changes_schema import carries_unknown
from pdip.integrator.adapters.sql.merge import delete_keys, key_problems, on_conflict, upsert
from pdip.integrator.adapters.sql.rows import KINDS, engine_for, error_reason, shown_url
from pdip.integrator.adapters.sql.rows import SETTINGS as ROW_SETTINGS
from pdip.integrator.adapters.sql.transient import passes as transient_error
from pdip.integrator.batch import Batch
from pdip.integrator.changes import NetChange, SoftDelete, batch_entries, entries_batch, net_changes, refused_rows
from pdip.integrator.errors import OperationError
from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.table import TABLE_NAME, change_log_table


def change_source(connection, context) -> Source:
    """The outbox, or the database's own log: `capture: logical` PostgreSQL's (`capture_postgres.py`),
    `capture: binlog` MariaDB's (`capture_mariadb.py`)."""
    capture = connection.get("capture")
    if capture == "binlog":
        from pdip.integrator.adapters.sql.capture_mariadb import BinlogCaptureSource

        return BinlogCaptureSource(connection, context)
    if capture:
        from pdip.integrator.adapters.sql.capture_postgres import PostgresCaptureSource

        return PostgresCaptureSource(connection, context)
    return OutboxSource(connection, context)


change_source.transient = transient_error  # what the retries ask of a source: both it makes are SQL's


class OutboxSource(Source):
    resumes_between_runs = True  # every run relays what is new since the last one
    replays_from_stored_position = True  # it keeps no position of its own: the target's is read
    transient = staticmethod(transient_error)  # a lost connection, a deadlock (`sql.transient`)

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context)
        self.table = change_log_table(sa.MetaData(), connection.get("table") or TABLE_NAME, connection.get("schema"))
        entities = connection.get("entities")
        self.entities = [entities] if isinstance(entities, str) else list(entities or [])
        self.poll_interval = float(connection.get("poll_interval", 1.0))

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        if not sa.inspect(self.engine).has_table(self.table.name, schema=self.table.schema):
            raise OperationError(f"change-log table {self.table.name!r} does not exist in {shown_url(self.engine)}")
        from pdip.data.outbox import ChangeLogReader  # here: a capture or an applier never loads the ORM

        # the data layer's reader, which never skips an entry a transaction still in flight holds
        reader = ChangeLogReader(self.engine, self.table, self.entities, wait=self.poll_interval)
        last, size = int(request.resume or 0), request.batch_size
        batches = reader.follow(last, size, self.poll_interval) if request.follow else reader.batches(last, size)
        for entries, position in batches:
            if entries:
                yield entries_batch(entries, position=position)

    def describe(self) -> str:
        return f"{self.engine.dialect.name}:{self.table.name} (outbox)"

    def close(self) -> None:
        self.engine.dispose()


@dataclasses.dataclass
class _Route:
    """Where one entity's entries go: a table, its key columns, how it deletes."""

    table: sa.Table
    key: tuple[str, ...]
    columns: frozenset[str]
    soft_delete: SoftDelete | None = None
    uuid_text: dict[str, Callable[[uuid.UUID], str]] = dataclasses.field(default_factory=dict)
    checks: list[tuple[str, exact.Check]] | None = None  # of values the table would change (`kept_exactly`)

    def kept_exactly(
        self, entries: list[ChangeLogEntry], dialect: sa.Dialect, refused: list[tuple[ChangeLogEntry, str]]
    ) -> list[ChangeLogEntry]:
        """The entries whose values the table stores as they are given; the others go to `refused`
        with the reason (`exact`: a decimal rounded to the column's scale, a fraction into an
        integer column, a time zone a timestamp drops), and the later entries of their key are
        applied as if they had never been written. A table none of whose columns can change a
        value costs nothing here."""
        if self.checks is None:
            self.checks = exact.named_checks(self.table, dialect)
        if not self.checks:
            return entries
        kept = []
        for entry in entries:
            after = entry.after  # not a mapping (a container's change): `net_changes` refuses it
            reason = exact.changed_value(after, self.checks) if isinstance(after, Mapping) else None
            if reason is None:
                kept.append(entry)
            else:
                refused.append((entry, reason))
        return kept

    @property
    def whole(self) -> frozenset[str]:
        """The columns an update must carry to be a whole row image, inserted when the row is
        missing: every column but the soft-delete one (an insert leaves that empty)."""
        return self.columns - {self.soft_delete.column} if self.soft_delete else self.columns

    def adapt(self, plan: _TablePlan) -> None:
        """UUIDs for columns that hold them as text (a reflected SQLite or MariaDB table
        knows only CHAR(32)), written the way SQLAlchemy's `Uuid` type writes them. Only the
        columns of that kind that a group of rows has are looked at."""
        if not self.uuid_text:
            return
        keyed = [(index, self.uuid_text[column]) for index, column in enumerate(self.key) if column in self.uuid_text]
        if keyed:
            for change in plan.changes:
                if uuid.UUID in map(type, change.key):
                    key = list(change.key)
                    for index, convert in keyed:
                        if type(key[index]) is uuid.UUID:
                            key[index] = convert(key[index])
                    change.key = tuple(key)
        for columns, rows in plan.row_groups():
            for column in columns:
                convert = self.uuid_text.get(column)
                if convert is None:
                    continue
                for row in rows:
                    if type(row[column]) is uuid.UUID:
                        row[column] = convert(row[column])


@dataclasses.dataclass
class _TablePlan:
    """What a batch does to one table: its net changes, the ones that remove rows, the rows to
    upsert grouped by their columns (`groups`, one statement per group), and the partial
    changes (updates alone, `updates`), grouped the same way, which only update rows that are
    there: written as an insert, their missing columns would break the table's NOT NULLs."""

    route: _Route
    changes: list[NetChange]
    removed: list[NetChange]
    groups: dict[tuple[str, ...], list[dict[str, Any]]]
    updates: dict[tuple[str, ...], list[NetChange]]
    cleared: bool = False  # the table is emptied before the changes are applied

    @classmethod
    def of(cls, route: _Route, changes: list[NetChange]) -> _TablePlan:
        removed = [change for change in changes if change.remove]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        updates: dict[tuple[str, ...], list[NetChange]] = {}
        for change in changes:
            values = change.values
            if values is None:
                continue
            columns = tuple(values)  # in the entries' order: one group per order met
            if change.partial:
                partial = updates.get(columns)
                if partial is None:
                    partial = updates[columns] = []
                partial.append(change)
                continue
            group = groups.get(columns)
            if group is None:
                group = groups[columns] = []
            group.append(values)
        whole = route.whole
        for columns in [columns for columns in updates if whole.issubset(columns)]:  # whole row images
            groups.setdefault(columns, []).extend(change.values for change in updates.pop(columns))
        return cls(route, changes, removed, groups, updates)

    def row_groups(self) -> Iterator[tuple[tuple[str, ...], list[dict[str, Any]]]]:
        """Each group of rows written (upserted or updated) with its columns."""
        yield from self.groups.items()
        for columns, changes in self.updates.items():
            yield columns, [change.values for change in changes]

    def unknown_columns(self) -> bool:
        """Whether an entry names a column the table lacks: the groups' columns say it for what
        is written; the entries of rows removed in the batch (few) are looked at one by one."""
        columns = self.route.columns
        if not all(columns.issuperset(group) for group in (*self.groups, *self.updates)):
            return True
        return any(carries_unknown(columns, entry) for change in self.removed for entry in change.entries)


# The batch size an integration that sets none reads into a change-log table: a batch folds each
# key's entries into one change, so where keys repeat (a captured table's hot rows) a larger batch
# leaves the database less to apply; 50,000 entries keep a reader and the writer near 150 MiB.
BATCH_ROWS = 50_000


class SqlApplyTarget(Target):
    transient = staticmethod(transient_error)  # a lost connection, a deadlock (`sql.transient`)
    batch_rows = BATCH_ROWS

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.engine = engine_for(connection, context)
        # A database server takes an applier per partition; a SQLite file lets one write at a time.
        self.takes_parallel_writers = self.engine.dialect.name != "sqlite"
        self._routes: dict[str | None, _Route] | None = None
        self._truncate = False
        self._positions_ready = False
        self._stages = 0
        self._on_disk: set[str] = set()  # slots whose position a commit of this target flushed to disk

    # -- set-up --

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        self._truncate = truncate

    def _ready(self) -> dict[str | None, _Route]:
        if self._routes is None:
            self._routes = self._routes_from_settings()
            if self._truncate:
                with self.engine.begin() as connection:
                    for route in self._routes.values():
                        connection.execute(route.table.delete())
        return self._routes

    def _routes_from_settings(self) -> dict[str | None, _Route]:
        settings, label = self.connection.settings, self._label()
        tables = settings.get("tables")
        if tables is not None:
            if not isinstance(tables, Mapping) or not tables:
                raise OperationError(f"{label}: tables: expected a mapping of entity names to table names")
            return {str(entity): self._route(str(name)) for entity, name in tables.items()}
        name = settings.get("table")
        if not name:
            raise OperationError(f"{label}: table (or tables: {{entity: table}}) is required for a change-log target")
        return {settings.get("entity"): self._route(str(name))}

    def _route(self, name: str) -> _Route:
        label, schema = self._label(), self.connection.get("schema")
        try:
            table = sa.Table(name, sa.MetaData(schema=schema), autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise OperationError(f"{label}: table {name!r} does not exist in {shown_url(self.engine)}") from None
        key = self.connection.get("key")
        key, problems = key_problems(self.engine, table, (key,) if isinstance(key, str) else key, label)
        if problems:
            raise OperationError(problems[0], problems)
        route = _Route(table, key, frozenset(table.c.keys()), uuid_text=_uuid_text_columns(table))
        soft = self.connection.get("soft_delete")
        if soft:
            column, value = (soft.get("column"), soft.get("value")) if isinstance(soft, Mapping) else (soft, None)
            if column not in table.c:
                raise OperationError(f"{label}: soft_delete: table {name!r} has no column {column!r}")
            route.soft_delete = SoftDelete(column, (lambda entry: value) if value is not None else _deleted_at)
        return route

    def _label(self) -> str:
        name = self.connection.name
        return f"{self.connection.kind} connection {name!r}" if name else f"{self.connection.kind} change-log target"

    def durable_position(self, slot: str) -> Any:
        return positions.load_position(self.engine, slot)

    def forget_positions(self, slot: str) -> None:
        positions.forget_positions(self.engine, slot)

    # -- writing --

    def write(self, batch: Batch) -> WriteResult:
        routes = self._ready()
        entries = batch_entries(batch)
        result = WriteResult(0)
        plans, refused, applied = self._plan(routes, entries, result)
        if self.position_slot and not self._positions_ready:  # before the batch's transaction holds a lock
            positions.ensure_table(self.engine)
            self._positions_ready = True
        unreported = self.refusing(refused_rows(batch, refused))  # before anything is committed
        with self.engine.connect() as connection:
            try:
                handed, late = self._committed(
                    connection, batch, lambda c: [refusal for plan in plans for refusal in self._apply(c, plan)]
                )
            except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as error:
                if transient_error(error):  # not the entries' fault: the integration tries the batch again
                    raise
                handed, late = self._committed(connection, batch, lambda c: self._one_by_one(c, plans))
        if self.position_slot:
            self._on_disk.add(partition_slot(self.position_slot, getattr(batch, "partition", None)))
        result.written = applied - len(refused) - handed - len(late)
        result.rejected = unreported + refused_rows(batch, late)
        return result

    def _committed(
        self, connection: sa.Connection, batch: Batch, apply: Callable[[sa.Connection], list]
    ) -> tuple[int, list[tuple[ChangeLogEntry, str]]]:
        """`apply` the batch (it returns the entries it refuses) and store its position in one
        transaction. Refused entries are handed over before the commit (`Target.refusing`): the
        transaction is rolled back first, so that none of the batch is committed and no lock is
        held while they are stored (the state database may be this SQLite file), then the batch
        is applied again. How many were handed over, and the refusals left to report: what the
        second pass refused besides them, or all of them where no batch loop listens."""
        with connection.begin() as trial:
            refused = apply(connection)
            if not refused or self.refuse_now is None:
                self._store_position(connection, batch)
                return 0, refused
            trial.rollback()
        self.refusing(refused_rows(batch, refused))
        first = {id(entry) for entry, _ in refused}
        with connection.begin():
            late = [refusal for refusal in apply(connection) if id(refusal[0]) not in first]
            self._store_position(connection, batch)
        return len(refused), late

    def _fitted(
        self, route: _Route, entries: list[ChangeLogEntry], result: WriteResult
    ) -> tuple[_Route, changes_schema.FittedEntries]:
        """Entries that carry columns the route's table lacks, dealt with as the integration's
        `schema` says (`changes_schema`); under `evolve` the route of the table evolved."""
        choice, name = self.schema_changes, route.table.name
        if choice is None:
            return route, changes_schema.unknown_refused(name, route.columns, entries)
        lacked = changes_schema.lacking(route.columns, entries)
        evolution.refuse(evolution.Difference(lacked, []), name, choice, "the integration's")
        if choice != "evolve":
            fitted = changes_schema.FITS[choice](lacked, entries)
            for column, count in fitted.discarded.items():
                result.values_discarded[column] = result.values_discarded.get(column, 0) + count
            return route, fitted
        evolved = self._route(name)  # read again: another applier of the stream may have added them
        lacked = changes_schema.lacking(evolved.columns, entries)
        if lacked:
            added = changes_schema.added_values(lacked, entries)
            result.schema_changes.extend(
                evolution.evolve(self.engine, evolved.table, evolution.Difference(lacked, []), added)
            )
            evolved = self._route(name)
        self._routes = {entity: evolved if known is route else known for entity, known in self._routes.items()}
        return evolved, changes_schema.FittedEntries(entries)

    def _plan(
        self, routes: dict[str | None, _Route], entries: list[ChangeLogEntry], result: WriteResult
    ) -> tuple[list[_TablePlan], list[tuple[ChangeLogEntry, str]], int]:
        """What the batch does to each table; refused entries; how many entries are for this
        target at all. Entries are folded first and their columns checked per group of rows;
        only a batch with a column the table lacks is looked at entry by entry (`_fitted`,
        which tells `result` what it changed of the tables and the values it dropped)."""
        everything = routes.get(None) if len(routes) == 1 else None
        cleared: set[int] = set()  # routes whose table a `clear` (a captured TRUNCATE) empties first
        if everything is not None and not any(entry.action == "clear" for entry in entries):
            routed = {id(everything): (everything, entries)}
            applied = len(entries)
        else:
            routed = {}
            applied = 0
            for entry in entries:
                route = everything or routes.get(entry.entity)
                if route is None:
                    continue  # an entity this target does not keep
                applied += 1
                pending = routed.get(id(route))
                if pending is None:
                    pending = routed[id(route)] = (route, [])
                if entry.action == "clear":  # what came before in the batch is emptied with the table
                    cleared.add(id(route))
                    pending[1].clear()
                    continue
                pending[1].append(entry)
        plans: list[_TablePlan] = []
        refused: list[tuple[ChangeLogEntry, str]] = []
        for route, some in routed.values():
            some = route.kept_exactly(some, self.engine.dialect, refused)
            changes, bad = net_changes(some, route.key, route.soft_delete)
            plan = _TablePlan.of(route, changes)
            if plan.unknown_columns():
                route, fitted = self._fitted(route, some, result)
                refused.extend(fitted.refused)
                changes, bad = net_changes(fitted.entries, route.key, route.soft_delete)
                plan = _TablePlan.of(route, changes)
            route.adapt(plan)
            plan.cleared = id(route) in cleared
            refused.extend(bad)
            plans.append(plan)
        return plans, refused, applied

    def _apply(self, connection: sa.Connection, plan: _TablePlan) -> list[tuple[ChangeLogEntry, str]]:
        """Removes, upserts, then updates; the updates of rows the table does not have, refused."""
        route = plan.route
        if plan.cleared:
            connection.execute(route.table.delete())
        if plan.removed:
            self._remove(connection, route, plan.removed)
        for columns, rows in plan.groups.items():
            if _copies(connection):
                self._staged_upsert(connection, route, columns, rows)
            else:
                connection.execute(upsert(connection.dialect.name, route.table, route.key, columns), rows)
        refused: list[tuple[ChangeLogEntry, str]] = []
        for columns, changes in plan.updates.items():
            refused.extend(self._update(connection, route, columns, changes))
        return refused

    def _stage(self, connection: sa.Connection, route: _Route, columns: tuple[str, ...], rows: list) -> str:
        """PostgreSQL: `COPY` the rows into a temporary table (dropped at commit) and name it; a
        row-by-row `executemany` would cost a round of the protocol per row."""
        quote = connection.dialect.identifier_preparer.quote
        self._stages += 1
        stage = f"pdip_stage_{self._stages}"
        names = ", ".join(quote(column) for column in columns)
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {_target(connection, route)} "
            "WITH NO DATA"
        )
        staged = sa.Table(stage, sa.MetaData(), *(sa.Column(c, route.table.c[c].type) for c in columns))
        values = operator.itemgetter(*columns)
        bulk_insert(
            connection,
            staged,
            columns,
            [values(row) for row in rows] if len(columns) > 1 else [(values(row),) for row in rows],
        )
        return stage

    def _staged_upsert(self, connection: sa.Connection, route: _Route, columns: tuple[str, ...], rows: list) -> None:
        """PostgreSQL: the staged rows in one `INSERT .. SELECT .. ON CONFLICT`."""
        quote = connection.dialect.identifier_preparer.quote
        stage = self._stage(connection, route, columns, rows)
        names = ", ".join(quote(column) for column in columns)
        connection.exec_driver_sql(
            f"INSERT INTO {_target(connection, route)} ({names}) SELECT {names} FROM {stage} "
            + on_conflict(quote, route.key, columns)
        )

    def _update(
        self, connection: sa.Connection, route: _Route, columns: tuple[str, ...], changes: list[NetChange]
    ) -> list[tuple[ChangeLogEntry, str]]:
        """Partial changes: one `UPDATE` of the changed columns for the group (from a staged
        table on PostgreSQL, `executemany` elsewhere). When fewer rows matched than were sent,
        the rows that are not there are found and their updates refused."""
        changed = [column for column in columns if column not in route.key]
        rows = [change.values for change in changes]
        matched = -1  # an update that changes nothing only asks whether its rows are there
        missing: list[NetChange] | None = None
        if changed and _copies(connection):
            quote = connection.dialect.identifier_preparer.quote
            stage = self._stage(connection, route, columns, rows)
            _count_keys(connection, stage, route.key)
            assignments = ", ".join(f"{quote(c)} = {stage}.{quote(c)}" for c in changed)
            where = " AND ".join(f"{_target(connection, route)}.{quote(c)} = {stage}.{quote(c)}" for c in route.key)
            matched = connection.exec_driver_sql(
                f"UPDATE {_target(connection, route)} SET {assignments} FROM {stage} WHERE {where}"
            ).rowcount
            if matched != len(changes):
                missing = self._missing_staged(connection, route, stage, changes)
        elif changed:
            table = route.table
            statement = (
                table.update()
                .where(*(table.c[c] == sa.bindparam(f"pdip_key_{c}") for c in route.key))
                .values({c: sa.bindparam(f"pdip_set_{c}", type_=table.c[c].type) for c in changed})
            )
            params = [
                {
                    **{f"pdip_key_{c}": value for c, value in zip(route.key, change.key, strict=True)},
                    **{f"pdip_set_{c}": change.values[c] for c in changed},
                }
                for change in changes
            ]
            matched = connection.execute(statement, params).rowcount
        if matched == len(changes):
            return []
        if missing is None:
            missing = self._missing(connection, route, changes)
        return [
            (entry, _not_there(route, change, changed))
            for change in missing
            for entry in change.entries
            if entry.action == "update"  # a delete of a row that is not there has nothing to do
        ]

    def _missing_staged(
        self, connection: sa.Connection, route: _Route, stage: str, changes: list[NetChange]
    ) -> list[NetChange]:
        """PostgreSQL: the changes whose row the table does not have, found in one query of the
        staged rows (in their column's types), by their place in the stage: `COPY` wrote them in
        the order of `changes` into a table nothing else changes (the row merge's `ctid` rule)."""
        quote = connection.dialect.identifier_preparer.quote
        keys = ", ".join(quote(column) for column in route.key)
        matched = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in route.key)
        places = connection.exec_driver_sql(
            f"SELECT s.pdip_place FROM (SELECT row_number() OVER (ORDER BY ctid) AS pdip_place, {keys} FROM {stage}) "
            f"AS s WHERE NOT EXISTS (SELECT 1 FROM {_target(connection, route)} AS t WHERE {matched}) "
            "ORDER BY s.pdip_place"
        )
        return [changes[place - 1] for (place,) in places]

    def _missing(self, connection: sa.Connection, route: _Route, changes: list[NetChange]) -> list[NetChange]:
        """The changes whose row the table does not have, asked row by row (where nothing is
        staged): this is the rare case, and the database compares each key in its column's own type."""
        table = route.table
        query = sa.select(sa.literal(1)).select_from(table)
        query = query.where(*(table.c[c] == sa.bindparam(f"pdip_key_{c}") for c in route.key))
        return [
            change
            for change in changes
            if connection.execute(
                query, {f"pdip_key_{c}": value for c, value in zip(route.key, change.key, strict=True)}
            ).first()
            is None
        ]

    def _remove(self, connection: sa.Connection, route: _Route, changes: list[NetChange]) -> None:
        delete_keys(connection, route.table, route.key, [change.key for change in changes])

    def _one_by_one(self, connection: sa.Connection, plans: list) -> list[tuple[ChangeLogEntry, str]]:
        """The bulk statements failed: apply each entry in its own savepoint of the connection's
        transaction; the entries refused, with the reasons."""
        refused = []
        sqlite.savepoints_nest(connection)
        for plan in plans:
            route = plan.route
            if plan.cleared:
                connection.execute(route.table.delete())
            for change in plan.changes:
                for entry in change.entries:
                    single = _TablePlan.of(route, net_changes([entry], route.key, route.soft_delete)[0])
                    route.adapt(single)
                    try:
                        with connection.begin_nested():
                            refused.extend(self._apply(connection, single))
                    except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as error:
                        if transient_error(error):
                            raise
                        refused.append((entry, _why(error)))
        return refused

    def _store_position(self, connection: sa.Connection, batch: Batch) -> None:
        if not self.position_slot:
            return
        partition = getattr(batch, "partition", None)
        slot = partition_slot(self.position_slot, partition)
        if self.source_replays and slot in self._on_disk and connection.dialect.name == "postgresql":
            # A crash of the server may take this commit back; the source then reads it again
            # after the slot's position on disk, which the first commit put there (docs/adr/0006).
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        positions.store_position(connection, slot, positions.with_stored_offsets(connection, slot, batch.position))

    def describe(self) -> str:
        names = self.connection.get("tables") or {None: self.connection.get("table")}
        return f"{self.engine.dialect.name}:{','.join(str(name) for name in names.values())} (apply changes)"

    def close(self) -> None:
        self.engine.dispose()


def _why(error: Exception) -> str:
    if isinstance(error, sa.exc.SQLAlchemyError):
        return error_reason(error)
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"


def _target(connection: sa.Connection, route: _Route) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return ".".join(quote(part) for part in (route.table.schema, route.table.name) if part)


def _count_keys(connection: sa.Connection, stage: str, key: tuple[str, ...]) -> None:
    """Give PostgreSQL statistics of the staged keys before the update joins them to the table.

    Without any, it takes the staged keys for few and repeated ones: it hashed the whole table and
    probed it with the stage, for 20 rows as for 20,000. Counted, the stage is hashed (or its few
    keys looked up in the table's index). The join needs only how many keys there are and that
    they are distinct (they are: a batch is folded per key), which a sample of 300 rows tells
    (statistics target 1; a sample without a repeated value is taken for distinct keys): a full
    `ANALYZE` read and sorted every staged row of every column, 0.4 us of the server's CPU per
    entry of a 20,000-entry batch, against 0.06."""
    quote = connection.dialect.identifier_preparer.quote
    alter = ", ".join(f"ALTER COLUMN {quote(column)} SET STATISTICS 1" for column in key)
    connection.exec_driver_sql(f"ALTER TABLE {stage} {alter}")
    connection.exec_driver_sql(f"ANALYZE {stage} ({', '.join(quote(column) for column in key)})")


def _not_there(route: _Route, change: NetChange, changed: list[str]) -> str:
    key = ", ".join(f"{column}={value!r}" for column, value in zip(route.key, change.key, strict=True))
    carried = ", ".join(changed) or "no column"
    return (
        f"update of a row table {route.table.name!r} does not have ({key}): the update carries only the "
        f"columns it changed ({carried}), not a whole row to insert"
    )


def _copies(connection: sa.Connection) -> bool:
    """PostgreSQL through psycopg 3, which has `COPY`."""
    if connection.dialect.name != "postgresql":
        return False
    return type(connection.connection.driver_connection).__module__.startswith("psycopg")


def _uuid_text_columns(table: sa.Table) -> dict[str, Callable[[uuid.UUID], str]]:
    found = {}
    for column in table.c:
        if isinstance(column.type, sa.String) and not isinstance(column.type, sa.Uuid):
            found[column.name] = _hex if column.type.length == 32 else str
    return found


def _hex(value: uuid.UUID) -> str:
    return value.hex


def _deleted_at(entry: ChangeLogEntry) -> Any:
    return entry.timestamp


ADAPTER = Adapter(
    KINDS,
    change_source,
    SqlApplyTarget,
    Capabilities(upsert=True, transactions=True, stores_positions=True),
    mode="changes",
    settings=(
        *ROW_SETTINGS,  # `table` is the change-log table of a source, the table applied to of a target
        Setting("entities", str | list[str], help="a source reads only these entities"),
        Setting(
            "poll_interval",
            float,
            default=1.0,
            help="most seconds a following source waits between reads (PostgreSQL: woken by commits)",
        ),
        Setting(
            "tables",
            dict[str, str] | list[str],
            help="a target's `entity: table` routes (other entities are left out); a capture's tables",
        ),
        Setting("entity", str, help="a target with `table` takes only this entity's entries"),
        Setting("key", str | list[str], help="a target's key columns (default: the primary key)"),
        Setting("soft_delete", str | dict[str, Any], help="a column set on delete (or {column, value})"),
        Setting(
            "capture",
            str,
            allowed=("logical", "binlog"),
            help="a source reads the database's log, not the outbox: PostgreSQL's (logical), MariaDB's (binlog)",
        ),
        Setting("slot", str, help="a capture's replication slot (lower-case name)"),
        Setting("publication", str, help="a capture's publication (lower-case name)"),
        Setting("create", bool, default=False, help="a capture creates its publication (of `tables`) and slot"),
        Setting("snapshot", bool, default=True, help="a capture's first run copies the tables' rows first"),
        Setting("max_slot_wal", str, default="1GB", help="a capture warns when its slot holds more WAL"),
        Setting("server_id", int, help="a binlog capture's replica server id (default: one chosen at random)"),
    ),
)
