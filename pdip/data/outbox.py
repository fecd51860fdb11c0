"""The outbox: change-log entries for tracked entities, written in the same transaction.

Runs as the session's `after_flush` hook, when new rows have their keys and the attribute history
still says what changed. Each insert, update (changed columns only, before and after) and delete
of a tracked entity becomes a `ChangeLogEntry` with the actor, tenant and key; the field policy
runs over it; the entries go into `pdip_change_log` on the flush's own connection, so a rolled
back transaction leaves none. Soft deletes are `delete` entries and restores `insert` entries,
which is what a replica applying the log needs.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from pdip.data.bulk import bulk_insert
from pdip.data.collector import fewer_collections
from pdip.data.domain import Entity, EntityBase, is_tracked
from pdip.data.wakeups import wakeup_for
from pdip.tracking.actors import current_actor
from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.table import ENTRY_COLUMNS, change_log_table, entry_values, row_to_entry

CHANGE_LOG = change_log_table(EntityBase.metadata)

EntryFilter = Callable[[ChangeLogEntry], ChangeLogEntry | None]


LOGGER = logging.getLogger(__name__)


class Outbox:
    """Writes entries for the tracked entities a flush touched; `policy` may rewrite or drop each."""

    def __init__(self, policy: EntryFilter | None = None):
        self.policy = policy

    def after_flush(self, session: Session, flush_context: Any) -> None:
        # A flush's entries are a few small objects per entity and no cycles; at the default pace
        # the collector would walk the session's objects again and again (docs/adr/0009).
        with fewer_collections():
            self._write(session)

    def _write(self, session: Session) -> None:
        new, deleted = session.new, session.deleted  # each call builds a new set: read them once
        changed = [entity for entity in session.dirty if entity not in new]  # new rows count as dirty here
        entries: list[ChangeLogEntry] = []
        actor = current_actor()
        now = time.time()  # the flush is the moment of every change it writes
        for entity in (*new, *changed, *deleted):
            if isinstance(entity, Entity) and is_tracked(entity):
                entries.extend(self._entries(entity, new, deleted, actor, now))
        if self.policy is not None:
            entries = [kept for entry in entries if (kept := self.policy(entry)) is not None]
        if entries:
            ChangeLogEntry.name_all(entries)
            when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            rows = [entry_values(entry, when) for entry in entries]
            bulk_insert(session.connection(), CHANGE_LOG, ENTRY_COLUMNS, rows)

    def _entries(
        self, entity: Entity, new: Any, deleted: Any, actor: str | None, now: float
    ) -> Iterator[ChangeLogEntry]:
        if entity in new:
            values = _values(entity)
            yield ChangeLogEntry(
                "insert",
                entity=entity.__tablename__,
                key=values["Id"],
                after=values,
                actor=actor,
                tenant=values["TenantId"],
                timestamp=now,
            )
            return
        common = {
            "entity": entity.__tablename__,
            "key": entity.Id,
            "actor": actor,
            "tenant": entity.TenantId,
            "timestamp": now,
        }
        state = inspect(entity)
        if entity in deleted:
            yield ChangeLogEntry("delete", before=_committed_values(state), **common)
        else:
            before, after = _changes(state)
            if not after:
                return
            if "GcRecId" in after and after["GcRecId"] is not None and before.get("GcRecId") is None:
                yield ChangeLogEntry("delete", before=_committed_values(state), **common)
            elif "GcRecId" in after and after["GcRecId"] is None:
                yield ChangeLogEntry("insert", after=_values(entity), extra={"restored": True}, **common)
            else:
                yield ChangeLogEntry("update", before=before, after=after, **common)


class ChangeLogReader:
    """Entries after a sequence number, in order, in batches: how the integrator reads the outbox.

    A reader never skips an entry. Sequence numbers are taken when a transaction writes its
    entries, but transactions commit in their own order: a lower number can become visible
    after a higher one was read. So entries are given out in an unbroken run of sequence
    numbers; at a gap (a number not visible below newer entries) the reader holds back until
    the gap is settled, that is until no transaction that may hold a number below the newest
    entry is still running (`settled_sequence`); a gap then left (a rolled back transaction)
    is passed over. `wait` is how long one read waits for that before it stops at the gap (the
    next read, or run, goes on from there). See docs/adr/0013.
    """

    def __init__(
        self, engine: sa.Engine, table: sa.Table | None = None, entities: Iterable[str] = (), wait: float = 1.0
    ):
        self.engine = engine
        self.table = CHANGE_LOG if table is None else table
        self.entities = frozenset(entities)  # read all rows, keep these: a gap is seen across entities
        self.wait = wait
        self.held_back = False  # whether the last `batches` stopped at a gap that was not settled

    def read(self, after: int = 0, batch_size: int = 1000) -> Iterator[list[ChangeLogEntry]]:
        for entries, _ in self.batches(after, batch_size):
            if entries:
                yield entries

    def batches(self, after: int, batch_size: int) -> Iterator[tuple[list[ChangeLogEntry], int]]:
        """Every entry after `after` that is final now, in batches: (entries, the sequence read
        up to, which counts rows of other entities too)."""
        last = settled = after
        self.held_back = False
        while True:
            last, gap = yield from self._run(last, settled, batch_size)
            if not gap:
                return
            settled_to = settled_sequence(self.engine, self.table, max(last, settled), self.wait)
            if settled_to is None:
                self.held_back = True
                return
            settled = max(settled, settled_to)

    def _run(self, last: int, settled: int, size: int) -> Generator[tuple[list[ChangeLogEntry], int], None, tuple]:
        """Rows after `last` while their sequence numbers follow on (or are settled); whether a
        gap stopped it."""
        table, entities = self.table, self.entities
        query = sa.select(table).order_by(table.c.sequence).limit(size)
        with self.engine.connect() as connection:
            while True:
                # a query per batch rather than one streamed: a read that stops at a gap leaves
                # no half-read result behind, and no transaction stays open while batches go out
                rows = connection.execute(query.where(table.c.sequence > last)).mappings().all()
                connection.rollback()
                entries = []
                for row in rows:
                    sequence = row["sequence"]
                    if sequence != last + 1 and sequence > settled:
                        if entries:
                            yield entries, last
                        return last, True
                    last = sequence
                    if not entities or row["entity"] in entities:
                        entries.append(row_to_entry(row))
                if rows:
                    yield entries, last
                if len(rows) < size:
                    return last, False

    def follow(self, after: int, batch_size: int, idle: float) -> Iterator[tuple[list[ChangeLogEntry], int]]:
        """What `batches` gives, without end: once everything final is read it waits for more
        (`pdip.data.wakeups`: woken by the writers' commits on PostgreSQL, polled elsewhere;
        `idle` seconds at most)."""
        wakeup = wakeup_for(self.engine, self.table, idle)
        try:
            last = after
            while True:
                found = False
                for entries, position in self.batches(last, batch_size):
                    found = found or position > last
                    last = position
                    yield entries, position
                if not self.held_back:  # held back at a gap, it has waited already
                    wakeup.wait(found)
        finally:
            wakeup.close()

    def last_sequence(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.max(self.table.c.sequence))).scalar() or 0


def settled_sequence(engine: sa.Engine, table: sa.Table, after: int, wait: float) -> int | None:
    """A sequence of `table` up to which every number is final (written and committed, or never
    to be), waiting up to `wait` seconds for one beyond `after`; None if there is none by then.
    That is the newest sequence once every writer that may hold a number up to it has ended;
    on PostgreSQL also `after + 1` as soon as that entry is committed (its writer ended): the
    reader goes on from there without waiting for every other transaction on the server.

    PostgreSQL: numbers are handed out in time order (the sequence is not cached per session)
    and a writer has its transaction id before it takes one (the outbox writes in the flush
    that wrote the entities; `SqlExporter` asks for the id first), so every holder of a number
    up to the newest has an id below one the reader takes after reading the newest: once the
    oldest running transaction (`xmin`) is past that, they have all ended.
    MariaDB/MySQL: a locking read of the range waits for the transactions that inserted rows
    in it and have not ended, once the statements that may be inserting a row in it (they
    mention the table, and were running when the newest was read) are over: a writer takes its
    number before its row is in the index, where no locking read can see it. SQLite: one
    transaction writes at a time, so commits come in sequence order and every number up to the
    newest is final."""
    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(table.c.sequence))).scalar()
        if newest is None or newest <= after:
            return after
        dialect = connection.dialect.name
        if dialect == "postgresql":
            return _postgres_settled(connection, table, after, newest, wait)
        if dialect in ("mysql", "mariadb"):
            return newest if _mysql_settled(connection, table, after, newest, wait) else None
        return newest


def _postgres_settled(connection: sa.Connection, table: sa.Table, after: int, newest: int, wait: float) -> int | None:
    # The gap's own writer usually commits first (often before the reader gets here), and then
    # it is no gap: xmin is the whole server's, and any long transaction (another application's,
    # the replica's apply) holds it back.
    next_there = sa.exists().where(table.c.sequence == after + 1)
    if connection.execute(sa.select(next_there)).scalar():
        return after + 1
    # The horizon is a transaction id of the reader's own, taken and ended at once: every id
    # handed out before it is lower. A snapshot's xmax would not do: it is one past the newest
    # *finished* transaction, so a writer that took a newer id and still runs is neither in the
    # snapshot's running list nor below its xmin, and would be passed over.
    # (its commit need not wait for the disk: nothing in it is worth keeping)
    connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
    horizon = connection.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint").scalar()
    connection.commit()
    oldest = sa.literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    query = sa.select(oldest, next_there)
    deadline = time.monotonic() + wait
    while True:
        xmin, filled = connection.execute(query).one()
        if xmin > horizon:
            return newest
        if filled:
            return after + 1
        if not _postgres_writers_before(connection, table, horizon):  # what holds xmin writes elsewhere
            return newest
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


# Transactions that hold a lock for writing on the outbox table and took their id before the
# horizon: only they can hold a number up to the newest (a writer locks the table before it
# takes a number, and has its id before that), and they still run. The oldest snapshot of the
# server (`xmin` above) is the cheap first answer, but any long transaction holds it back: a
# report reading for an hour, a writer in another database. pg_locks is readable by every user.
_WRITERS_BEFORE = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks AS held "
    "JOIN pg_locks AS own ON own.virtualtransaction = held.virtualtransaction "
    "WHERE held.locktype = 'relation' AND held.granted AND held.mode <> 'AccessShareLock' "
    "AND held.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND held.relation = (SELECT c.oid FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE c.relname = :name AND n.nspname = coalesce(:schema, current_schema())) "
    "AND own.locktype = 'transactionid' AND own.granted AND own.mode = 'ExclusiveLock' "
    "AND age(own.transactionid) > age(xid(CAST(CAST(:horizon AS text) AS xid8))))"
)


def _postgres_writers_before(connection: sa.Connection, table: sa.Table, horizon: int) -> bool:
    found = connection.execute(_WRITERS_BEFORE, {"name": table.name, "schema": table.schema, "horizon": horizon})
    return bool(found.scalar())


def _mysql_settled(connection: sa.Connection, table: sa.Table, after: int, newest: int, wait: float) -> bool:
    if not _mysql_statements_over(connection, table, time.monotonic() + wait):
        return False
    connection.rollback()  # the isolation level is set between transactions
    connection.execution_options(isolation_level="READ COMMITTED")  # no gap locks: writers go on
    connection.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {max(1, math.ceil(wait))}")
    query = sa.select(table.c.sequence).where(table.c.sequence > after, table.c.sequence <= newest)
    try:
        connection.execute(query.with_for_update(read=True)).all()
        return True
    except sa.exc.OperationalError as error:
        code = getattr(error.orig, "args", (None,))[0]
        if code != _LOCK_WAIT_TIMEOUT:  # pragma: no cover - any other error is the database's, raised as it is
            raise
        return False
    finally:
        connection.rollback()
        connection.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = DEFAULT")


_LOCK_WAIT_TIMEOUT = 1205


def _mysql_statements_over(connection: sa.Connection, table: sa.Table, deadline: float) -> bool:
    """Waits until the statements of other sessions that mention `table` and run now are over
    (until `deadline`); whether they are. A statement is known by its session and its text
    (PyMySQL sends values inside the text, so two inserts differ). Without the PROCESS privilege
    only the reader's own user's sessions can be seen, which it says once per connection."""
    _warn_without_process_privilege(connection, table)
    query = sa.text(
        "SELECT ID, INFO FROM information_schema.PROCESSLIST "
        "WHERE ID <> CONNECTION_ID() AND COMMAND = 'Query' AND INFO LIKE :pattern"
    )
    pattern = f"%{table.name}%"
    running = set(connection.execute(query, {"pattern": pattern}).all())
    while running:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
        running &= set(connection.execute(query, {"pattern": pattern}).all())
    return True


def _warn_without_process_privilege(connection: sa.Connection, table: sa.Table) -> None:
    info = connection.connection.info  # the DBAPI connection's own, kept with it in the pool
    if "pdip_process_privilege" in info:
        return
    granted = connection.exec_driver_sql(
        "SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'PROCESS' LIMIT 1"
    ).first()
    info["pdip_process_privilege"] = granted is not None
    if granted is None:
        LOGGER.warning(
            "outbox %s: this user lacks the PROCESS privilege, so the reader cannot see other users' inserts "
            "under way; an entry whose insert by another user is under way while the reader settles a gap "
            "could be passed over. Grant PROCESS to the reader's user, or read with the writers' user.",
            table.name,
        )


def _values(entity: Entity) -> dict[str, Any]:
    """Column values of a row just written, read from the instance's state.

    Attribute access through the ORM costs microseconds per column, and a column the insert did
    not set (left to its default) is not loaded at all: reading it would cost a SELECT per row.
    Its stored value is known without asking, unless the database itself fills it in."""
    loaded = entity.__dict__
    values = {}
    for key, unset in _columns(type(entity)):
        if key in loaded:
            values[key] = loaded[key]
        else:
            values[key] = getattr(entity, key) if unset is _ASK_DATABASE else unset
    return values


_ASK_DATABASE = object()


@functools.cache
def _columns(entity: type[Entity]) -> tuple[tuple[str, Any], ...]:
    """(attribute, value stored when the insert left it unset) for each column of `entity`."""
    columns = []
    for attribute in inspect(entity).column_attrs:
        column = attribute.columns[0]
        default = column.default
        if column.server_default is not None or (default is not None and not default.is_scalar):
            unset = _ASK_DATABASE
        else:
            unset = default.arg if default is not None else None
        columns.append((attribute.key, unset))
    return tuple(columns)


def _committed_values(state: Any) -> dict[str, Any]:
    values = {}
    for attribute in state.mapper.column_attrs:
        history = state.attrs[attribute.key].history
        values[attribute.key] = history.deleted[0] if history.deleted else state.attrs[attribute.key].value
    return values


def _changes(state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the columns whose value really changed, audit stamps excluded."""
    before, after = {}, {}
    for attribute in state.mapper.column_attrs:
        if attribute.key in ("UpdateUserId", "UpdateUserTime"):
            continue
        history = state.attrs[attribute.key].history
        if history.added and (not history.deleted or history.deleted[0] != history.added[0]):
            before[attribute.key] = history.deleted[0] if history.deleted else None
            after[attribute.key] = history.added[0]
    return before, after
