"""What the change-stream tests share: a history of entries whose final state is easy to check."""

from __future__ import annotations

from pdip.tracking import ChangeLogEntry


def history(keys: int, updates: int) -> list[ChangeLogEntry]:
    """Inserts of every key, then updates that set each key's `version` to how often it changed:
    after all of them, key k holds `updates // keys` (with `updates` a multiple of `keys`)."""
    entries = [ChangeLogEntry("insert", entity="items", key=k, after={"id": k, "version": 0}) for k in range(keys)]
    entries += [
        ChangeLogEntry("update", entity="items", key=n % keys, after={"version": n // keys + 1}) for n in range(updates)
    ]
    return entries
