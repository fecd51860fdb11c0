"""Entries that carry a column their target table lacks (a column added at the source while a
capture or an outbox stream runs): the integration's `schema` decides, as for rows
(`evolution.py`, docs/adr/0015):

- `evolve`: the column is added to the table (`evolution.evolve`), its type from the first
  value the batch carries there (entries declare no types), and the batch is applied with it;
- `freeze`: the run is refused, naming the columns, before anything of the batch is written;
- `discard_row`: each entry with a value there is dead-lettered with the reason; an entry with
  NULL there loses nothing and is applied without it;
- `discard_value`: the entries are applied without those columns; the values dropped are counted
  per column and reported with the run.

Without a `schema` the table is kept as it is and each entry naming a column it lacks is
dead-lettered with the reason (`unknown column`): a change-log target never creates its table,
so there is no table pdip made to evolve by default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence

from pdip.integrator.batch import Batch
from pdip.tracking.entry import ChangeLogEntry


@dataclasses.dataclass
class FittedEntries:
    """Entries as the table takes them, those refused with the reason, the values dropped."""

    entries: list[ChangeLogEntry]
    refused: list[tuple[ChangeLogEntry, str]] = dataclasses.field(default_factory=list)
    discarded: dict[str, int] = dataclasses.field(default_factory=dict)


def carries_unknown(columns: Collection[str], entry: ChangeLogEntry) -> bool:
    """Whether `entry` writes a column not in `columns` (a delete writes none)."""
    after = entry.after
    return entry.action != "delete" and isinstance(after, Mapping) and not columns.issuperset(after)


def lacking(columns: Collection[str], entries: Iterable[ChangeLogEntry]) -> list[str]:
    """The columns the entries write that are not in `columns`, in the order first met."""
    found: dict[str, None] = {}
    for entry in entries:
        if carries_unknown(columns, entry):
            found.update((name, None) for name in entry.after if name not in columns)
    return list(found)


def unknown_refused(table: str, columns: Collection[str], entries: Sequence[ChangeLogEntry]) -> FittedEntries:
    """No `schema`: each entry naming a column the table lacks refused, the others kept."""
    fitted = FittedEntries([])
    for entry in entries:
        if carries_unknown(columns, entry):
            unknown = ", ".join(repr(name) for name in entry.after if name not in columns)
            fitted.refused.append((entry, f"unknown column {unknown} in table {table!r}"))
        else:
            fitted.entries.append(entry)
    return fitted


def without_entries(lacked: Sequence[str], entries: Sequence[ChangeLogEntry]) -> FittedEntries:
    """`discard_row`: an entry with a value in a column of `lacked` refused; NULLs there dropped."""
    fitted = FittedEntries([])
    for entry in entries:
        if not _writes_any(entry, lacked):
            fitted.entries.append(entry)
            continue
        carried = [name for name in lacked if entry.after.get(name) is not None]
        if carried:
            names = ", ".join(repr(name) for name in carried)
            fitted.refused.append((entry, f"the target table lacks column(s) {names} (schema: discard_row)"))
        else:
            fitted.entries.append(_without(entry, lacked))
    return fitted


def without_values(lacked: Sequence[str], entries: Sequence[ChangeLogEntry]) -> FittedEntries:
    """`discard_value`: the entries without the columns of `lacked`; the values dropped counted."""
    fitted = FittedEntries([])
    for entry in entries:
        if not _writes_any(entry, lacked):
            fitted.entries.append(entry)
            continue
        for name in lacked:
            if entry.after.get(name) is not None:
                fitted.discarded[name] = fitted.discarded.get(name, 0) + 1
        fitted.entries.append(_without(entry, lacked))
    return fitted


def added_values(lacked: Sequence[str], entries: Iterable[ChangeLogEntry]) -> Batch:
    """The values the entries carry in the columns of `lacked`, as a batch: what `evolve` takes
    the new columns' types from."""
    rows = [
        tuple(entry.after.get(name) for name in lacked)
        for entry in entries
        if entry.action != "delete" and isinstance(entry.after, Mapping)
    ]
    return Batch(list(lacked), rows)


def _writes_any(entry: ChangeLogEntry, lacked: Sequence[str]) -> bool:
    """Whether `entry` writes a column of `lacked`, even a NULL (a delete writes none)."""
    after = entry.after
    return entry.action != "delete" and isinstance(after, Mapping) and any(name in after for name in lacked)


def _without(entry: ChangeLogEntry, lacked: Sequence[str]) -> ChangeLogEntry:
    """A copy of `entry` without those columns in `after` (entries are not changed in place)."""
    return entry.replace(after={name: value for name, value in entry.after.items() if name not in lacked})


FITS = {"discard_row": without_entries, "discard_value": without_values}
