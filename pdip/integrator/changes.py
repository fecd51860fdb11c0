"""Change-log batches, and what applying one to a keyed store means.

In `mode: changes` a `Batch` has one column, `entry`, holding `ChangeLogEntry` objects:

    batch = entries_batch(entries, position=42)
    batch_entries(batch)            # the entries again

Every change-log target that keeps rows by key (a SQL table, an in-memory replica) applies the
same rules, which live here so both obey one contract:

- `insert` writes the row at the entry's key with the entry's `after` values (an upsert);
  `update` changes the columns it carries (only those that changed) of the row that is there;
  `delete` removes it (or marks it deleted). A net change whose values come from updates alone
  is `partial`: a target writes it as an update of the row it has, never as a new row (whose
  other columns would be missing); what happens when the row is not there is the target's to
  say (a SQL table dead-letters the update, see `adapters/sql/changes.py`);
- entries of one key apply in the order they arrive, so within a batch they fold into one net
  change per key (`net_changes`): a row inserted, updated twice and deleted in one batch costs
  one delete, and a delete followed by an insert becomes "remove, then write these values";
- an entry that cannot be applied (no key, a container action such as `append`) is refused
  with the reason and dead-lettered; the other keys go on.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pdip.integrator.batch import Batch, MessageOffsets, RowLines
from pdip.integrator.errors import UnappliableEntry
from pdip.tracking.entry import NOT_AN_ENTRY, RECORD_ACTIONS, ChangeLogEntry
from pdip.tracking.entry import message_key as message_key  # the key Kafka messages of entries carry

ENTRY_COLUMN = "entry"
COLUMNS = (ENTRY_COLUMN,)


def entries_batch(
    entries: Iterable[ChangeLogEntry],
    position: Any = None,
    rejected: list[tuple[dict[str, Any], str]] | None = None,
    rejected_at: list[Any] | None = None,
    origins: RowLines | MessageOffsets | None = None,
) -> Batch:
    """A change-log batch of `entries`; `rejected` is what the source could not read as an entry
    (and `rejected_at` where it read each, when it knows); `origins`, where it read each entry."""
    return Batch(
        COLUMNS,
        [(entry,) for entry in entries],
        position=position,
        rejected=rejected,
        rejected_at=rejected_at,
        origins=origins,
    )


def refused_rows(batch: Batch, refused: list[tuple[ChangeLogEntry, str]]) -> list[tuple[tuple, str]]:
    """Entries a change-log target refuses, as the batch's own rows with the reasons: the run
    finds a row by identity to dead-letter it where the source read it (`Batch.origins_of`)."""
    if not refused:
        return []
    rows = {id(row[0]): row for row in batch.rows}
    return [(rows.get(id(entry), (entry,)), reason) for entry, reason in refused]


def batch_entries(batch: Batch) -> list[ChangeLogEntry]:
    """The entries of a change-log batch, in order."""
    if batch.columns != list(COLUMNS):
        raise ValueError(f"a change-log batch has the one column {ENTRY_COLUMN!r}; got {', '.join(batch.columns)}")
    return [row[0] for row in batch.rows]


def entry_from_json(text: str | bytes) -> ChangeLogEntry:
    """The entry a JSON text holds; ValueError with the reason (for the dead letter) otherwise:
    not JSON, not an entry, or a schema version this pdip does not read."""
    try:
        return ChangeLogEntry.from_json(text)
    except NOT_AN_ENTRY as error:
        raise ValueError(_reason(error)) from None


def entries_from_json(texts: list[bytes]) -> tuple[list[ChangeLogEntry], list[tuple[int, str]]]:
    """`entry_from_json` over a batch of texts (a change stream's messages): the entries, and
    the index of each text that holds none with the reason."""
    entries, failed = ChangeLogEntry.many_from_json(texts)
    return entries, [(index, _reason(error)) for index, error in failed]


def _reason(error: Exception) -> str:
    """Why a text is not an entry, from what reading it raised."""
    if isinstance(error, UnicodeDecodeError):
        return "not valid JSON: not UTF-8 text"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg}"
    if isinstance(error, KeyError):
        return f"not a change-log entry: no {error.args[0]!r}"
    if isinstance(error, (TypeError, AttributeError)):
        return f"not a change-log entry: {error}"
    return str(error)


# -- applying entries by key -------------------------------------------------------------------


def key_of(entry: ChangeLogEntry, columns: Sequence[str]) -> tuple:
    """The values of the key `columns` for `entry`: from its `key` (a value, a sequence in the
    columns' order, or a mapping by column), else from its `after`/`before` row."""
    key = entry.key
    if isinstance(key, Mapping):
        missing = [column for column in columns if column not in key]
        if not missing:
            return tuple(key[column] for column in columns)
    elif isinstance(key, (list, tuple)):
        if len(key) == len(columns):
            return tuple(key)
        raise UnappliableEntry(f"the key {key!r} has {len(key)} values; the key columns are {', '.join(columns)}")
    elif key is not None and len(columns) == 1:
        return (key,)
    for row in (entry.after, entry.before):
        if isinstance(row, Mapping) and all(row.get(column) is not None for column in columns):
            return tuple(row[column] for column in columns)
    raise UnappliableEntry(
        f"no key: the entry's key is {key!r} and its row does not hold the key column(s) {', '.join(columns)}"
    )


class NetChange:
    """What a batch's entries for one key come to: remove the row first (`remove`), then write
    `values` over what is there (None: write nothing). `partial`: no insert since the batch
    began or the row was removed, so `values` holds only the columns updates changed."""

    __slots__ = ("entries", "key", "partial", "remove", "values")

    def __init__(self, key: tuple, remove: bool = False, values: dict[str, Any] | None = None, partial: bool = False):
        self.key = key
        self.remove = remove
        self.values = values
        self.partial = partial
        self.entries: list[ChangeLogEntry] = []

    def __repr__(self) -> str:
        return f"NetChange({self.key!r}, remove={self.remove}, values={self.values!r}, entries={len(self.entries)})"


@dataclasses.dataclass(frozen=True)
class SoftDelete:
    """Deletes set `column` to `value(entry)` (the delete's time, a flag) and keep the row."""

    column: str
    value: Callable[[ChangeLogEntry], Any]


_SCALAR_KEYS = frozenset({int, str, uuid.UUID})


def net_changes(
    entries: Iterable[ChangeLogEntry], key_columns: Sequence[str], soft_delete: SoftDelete | None = None
) -> tuple[list[NetChange], list[tuple[ChangeLogEntry, str]]]:
    """Fold `entries` (in order) into one `NetChange` per key, in the order keys first appear;
    and the entries that cannot be applied, with the reason for each. With `soft_delete`, a
    delete writes the soft-delete column instead of removing the row, and a later insert
    clears it again (a restore).

    This runs for every entry a SQL target applies, so the common case (one key column, an int
    or text key, a dict `after`) takes the shortest path."""
    changes: dict[Any, NetChange] = {}  # by the key's one value, or by its tuple of values
    refused: list[tuple[ChangeLogEntry, str]] = []
    single = key_columns[0] if len(key_columns) == 1 else None
    new_change = NetChange.__new__
    for entry in entries:
        action, after, key = entry.action, entry.after, entry.key
        try:
            if action not in RECORD_ACTIONS:
                raise UnappliableEntry(
                    f"action {action!r} changes a place inside a container; "
                    "a keyed store applies insert, update, delete"
                )
            if action != "delete" and after is not None and type(after) is not dict and not isinstance(after, Mapping):
                raise UnappliableEntry(f"{action} without a row: `after` is {type(after).__name__}, not a mapping")
            if single is None:
                key = key_of(entry, key_columns)
            elif type(key) not in _SCALAR_KEYS:
                key = key_of(entry, key_columns)[0]
        except UnappliableEntry as error:
            refused.append((entry, str(error)))
            continue
        change = changes.get(key)
        if change is None:  # the first entry of this key in the batch: its values start with the key
            change = changes[key] = new_change(NetChange)
            change.entries = [entry]
            change.remove = False
            change.partial = True  # until an insert gives the whole row
            if single is not None:
                change.key, change.values = (key,), {single: key}
            else:
                change.key, change.values = key, dict(zip(key_columns, key, strict=True))
        else:
            change.entries.append(entry)
            if change.values is None:  # removed earlier in the batch: written again from the key
                change.values = {single: key} if single is not None else dict(zip(key_columns, key, strict=True))
        if action == "delete":
            if soft_delete is None:
                change.remove, change.values, change.partial = True, None, True
            else:
                change.values[soft_delete.column] = soft_delete.value(entry)
            continue
        if action == "insert":
            change.partial = False
            if soft_delete is not None:
                change.values[soft_delete.column] = None  # inserted (again): not deleted, unless the row says so
        if after:
            change.values.update(after)
    return list(changes.values()), refused
