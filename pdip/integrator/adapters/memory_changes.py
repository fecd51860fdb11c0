"""In-memory change logs (`mode: changes`): a store of entries, or a tracked container's history.

    integrator.stores["log"] = cart                  # a TrackedDict/TrackedList/TrackedObject
    integrator.stores["log"] = [entry, ...]          # ChangeLogEntry objects (or their dicts)
    source: {kind: memory, store: log}
    target: {kind: memory, store: copy}              # the entries, appended
    target: {kind: memory, store: replica, key: [id]}  # rows, the entries applied by key

As a target without `key` the store receives the entries themselves. With `key` it is a replica:
a list of row dicts to which each entry is applied as a SQL table would apply it (upsert by key,
delete; a `clear`, a captured TRUNCATE, empties it), which makes it the in-memory twin of the
SQL apply target for tests and glue code.
A source's position is the number of entries read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pdip.configuration.settings import Setting
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.memory import SETTINGS as ROW_SETTINGS
from pdip.integrator.adapters.memory import store_name
from pdip.integrator.batch import Batch
from pdip.integrator.changes import NetChange, batch_entries, entries_batch, net_changes, refused_rows
from pdip.integrator.errors import OperationError
from pdip.tracking.entry import ChangeLogEntry


def stored_entries(value: Any, name: str) -> list[ChangeLogEntry]:
    """The entries a store holds: a tracked container's history, or a list of entries or dicts."""
    history = getattr(value, "tracking_changes", None)
    if callable(history):
        return list(history())
    entries = []
    for index, item in enumerate(value):
        if isinstance(item, ChangeLogEntry):
            entries.append(item)
        elif isinstance(item, Mapping):
            entries.append(ChangeLogEntry.from_dict(item))
        else:
            raise OperationError(
                f"memory store {name!r}[{index}]: expected a ChangeLogEntry or its dict, got {type(item).__name__}"
            )
    return entries


class MemoryChangesSource(Source):
    def read(self, request: ReadRequest) -> Iterator[Batch]:
        name = store_name(self.connection)
        if name not in self.context.stores:
            known = ", ".join(sorted(self.context.stores)) or "none"
            raise OperationError(f"memory store {name!r} does not exist (known: {known})")
        entries = stored_entries(self.context.stores[name], name)
        start = int(request.resume or 0)
        for offset in range(start, len(entries), request.batch_size):
            chunk = entries[offset : offset + request.batch_size]
            yield entries_batch(chunk, position=offset + len(chunk))

    def describe(self) -> str:
        return f"memory:{self.connection.get('store')} (changes)"


class MemoryChangesTarget(Target):
    def __init__(self, connection, context):
        super().__init__(connection, context)
        key = connection.get("key")
        self.key: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key or ())

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        stores, name = self.context.stores, store_name(self.connection)
        if truncate or name not in stores:
            stores[name] = []

    def write(self, batch: Batch) -> WriteResult:
        entries = batch_entries(batch)
        store = self.context.stores[store_name(self.connection)]
        if not self.key:
            store.extend(entries)
            return WriteResult(len(entries))
        cleared = max((index for index, entry in enumerate(entries) if entry.action == "clear"), default=None)
        applied = entries if cleared is None else entries[cleared + 1 :]  # what came before is emptied with it
        changes, refused = net_changes(applied, self.key)
        rows = {} if cleared is not None else {tuple(row.get(column) for column in self.key): row for row in store}
        for change in changes:
            if change.remove:
                rows.pop(change.key, None)
            if change.values is None:
                continue
            if change.partial and change.key not in rows:  # as a SQL replica: no half row is made up
                reason = self._not_there(change)
                refused.extend((entry, reason) for entry in change.entries if entry.action == "update")
                continue
            rows.setdefault(change.key, {}).update(change.values)
        store[:] = list(rows.values())
        return WriteResult(len(entries) - len(refused), refused_rows(batch, refused))

    def _not_there(self, change: NetChange) -> str:
        key = ", ".join(f"{column}={value!r}" for column, value in zip(self.key, change.key, strict=True))
        changed = ", ".join(column for column in change.values if column not in self.key) or "no column"
        return (
            f"update of a row memory store {store_name(self.connection)!r} does not have ({key}): the update "
            f"carries only the columns it changed ({changed}), not a whole row to insert"
        )

    def describe(self) -> str:
        return f"memory:{self.connection.get('store')} (changes)"


SETTINGS = (
    *ROW_SETTINGS,
    Setting("key", str | list[str], help="a target's key columns: the store is a replica the entries are applied to"),
)
CAPABILITIES = Capabilities(upsert=True, in_process_only=True)
ADAPTER = Adapter(
    ("memory",), MemoryChangesSource, MemoryChangesTarget, CAPABILITIES, mode="changes", settings=SETTINGS
)
