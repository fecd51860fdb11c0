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
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from pdip.data.bulk import bulk_insert
from pdip.data.domain import Entity, EntityBase, is_tracked
from pdip.tracking.actors import current_actor
from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.table import ENTRY_COLUMNS, change_log_table, entry_values, row_to_entry

CHANGE_LOG = change_log_table(EntityBase.metadata)

EntryFilter = Callable[[ChangeLogEntry], ChangeLogEntry | None]


class Outbox:
    """Writes entries for the tracked entities a flush touched; `policy` may rewrite or drop each."""

    def __init__(self, policy: EntryFilter | None = None):
        self.policy = policy

    def after_flush(self, session: Session, flush_context: Any) -> None:
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
    """Entries after a sequence number, in order, in batches: how the integrator reads the outbox."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def read(self, after: int = 0, batch_size: int = 1000) -> Iterator[list[ChangeLogEntry]]:
        last = after
        while True:
            query = (
                sa.select(CHANGE_LOG)
                .where(CHANGE_LOG.c.sequence > last)
                .order_by(CHANGE_LOG.c.sequence)
                .limit(batch_size)
            )
            with self.engine.connect() as connection:
                batch = [row_to_entry(row) for row in connection.execute(query).mappings()]
            if not batch:
                return
            yield batch
            last = batch[-1].sequence
            if len(batch) < batch_size:
                return

    def last_sequence(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.max(CHANGE_LOG.c.sequence))).scalar() or 0


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
