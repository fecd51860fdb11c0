"""`Tracker`: the history and the observers a tracked container and everything nested in it share.

Recording a change is the hot path of every tracked mutation, so `record` builds the entry
directly into the slots of `ChangeLogEntry` (its keyword constructor validates and converts,
which costs more than the mutation itself), stamps a float timestamp and a per-tracker
sequence number, appends it to a ring buffer (`collections.deque(maxlen=N)`: old entries fall
off, so memory and cost stay flat however long the container lives) and calls the observers,
if there are any.

An observer is any callable taking a `ChangeLogEntry`. Observers run in priority order (higher
first; equal priorities in the order they were added) after the change is made and recorded: an
observer that raises cannot undo or hide the change. Its error is logged (with the entry's
sequence and path, never its values) and counted in `observer_errors`, and the next observer runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from pdip.tracking.actors import ACTOR
from pdip.tracking.entry import ADDED, NO_EXTRA, ChangeLogEntry
from pdip.tracking.nodes import snapshot

DEFAULT_HISTORY = 10_000
DEFAULT_STACK_DEPTH = 5

Observer = Callable[[ChangeLogEntry], Any]

_new_entry = object.__new__
_now = time.time
_current_actor = ACTOR.get
_PACKAGE_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Tracker:
    """History, options and observers of one tracked container (the root) and its nested parts.

    Args:
        entity: written to each entry's `entity` (a name for the container, such as "cart").
        history: how many entries to keep, newest last; 0 keeps none (observers still see every
            change), None keeps all of them (memory grows with every change).
        snapshots: store deep copies of `before` and `after` in entries, so later changes to a
            stored value do not show through; by default entries refer to the values themselves.
        capture_stack: add where each change was made (`extra["stack"]`, innermost call first);
            True keeps 5 frames, a number keeps that many.
        tenant: written to each entry's `tenant`.
        observers: callables, or (callable, priority) pairs, called with every new entry.
        logger: where observer errors are reported (anything with `.exception(message, *args)`);
            by default the standard library's "pdip.tracking" logger.
    """

    __slots__ = (
        "_append",
        "_observers",
        "_registered",
        "_sequence",
        "capture_stack",
        "entity",
        "history",
        "logger",
        "observer_error_counts",
        "snapshots",
        "tenant",
    )

    def __init__(
        self,
        entity: str | None = None,
        *,
        history: int | None = DEFAULT_HISTORY,
        snapshots: bool = False,
        capture_stack: bool | int = False,
        tenant: str | None = None,
        observers: Iterable[Observer | tuple[Observer, int]] = (),
        logger: Any = None,
    ):
        if history is not None and (not isinstance(history, int) or isinstance(history, bool) or history < 0):
            raise ValueError(f"history is a number of entries (0 or more) or None for all; got {history!r}")
        self.entity = entity
        self.tenant = tenant
        self.snapshots = bool(snapshots)
        self.capture_stack = DEFAULT_STACK_DEPTH if capture_stack is True else int(capture_stack or 0)
        self.history: deque[ChangeLogEntry] = deque(maxlen=history)
        self._append = self.history.append
        self._sequence = itertools.count(1)
        self._registered: list[tuple[int, int, Observer]] = []
        self._observers: tuple[Observer, ...] = ()
        self.observer_error_counts: dict[str, int] = {}
        self.logger = logger if logger is not None else logging.getLogger("pdip.tracking")
        for observer in observers:
            if isinstance(observer, tuple):
                self.observe(*observer)
            else:
                self.observe(observer)

    def spawn(self) -> Tracker:
        """A new tracker with the same options and no history or observers (for a detached part)."""
        return Tracker(
            self.entity,
            history=self.history.maxlen,
            snapshots=self.snapshots,
            capture_stack=self.capture_stack,
            tenant=self.tenant,
            logger=self.logger,
        )

    # -- recording ---------------------------------------------------------------------------------

    def record(
        self, action: str, key: Any, path: str | None, before: Any, after: Any, added: bool = False
    ) -> ChangeLogEntry:
        """Make, keep and announce the entry for one change; `added`: a `set` of a key that was
        not there (`extra["added"]` is True), so "added" and "was None" read apart."""
        entry = _new_entry(ChangeLogEntry)
        entry.action = action
        entry.entity = self.entity
        entry.key = key
        entry.path = path
        if self.snapshots:
            before, after = snapshot(before), snapshot(after)
        entry.before = before
        entry.after = after
        entry.actor = _current_actor()
        entry.tenant = self.tenant
        entry.sequence = next(self._sequence)
        if self.capture_stack:
            entry._extra = (
                {"stack": _stack(self.capture_stack), "added": True} if added else {"stack": _stack(self.capture_stack)}
            )
        else:
            entry._extra = ADDED if added else NO_EXTRA
        entry._id = None
        entry._timestamp = _now()
        self._append(entry)
        if self._observers:
            self._notify(entry)
        return entry

    def _notify(self, entry: ChangeLogEntry) -> None:
        for observer in self._observers:
            try:
                observer(entry)
            except Exception:
                name = _name_of(observer)
                self.observer_error_counts[name] = self.observer_error_counts.get(name, 0) + 1
                self.logger.exception(
                    "tracking observer %s failed on change %s (%s %s); the change stands",
                    name,
                    entry.sequence,
                    entry.action,
                    entry.path,
                )

    # -- observers ---------------------------------------------------------------------------------

    def observe(self, observer: Observer, priority: int | None = None) -> Observer:
        """Call `observer(entry)` after every change; higher `priority` first (default: the
        observer's own `priority` attribute, else 0). Returns the observer."""
        if not callable(observer):
            raise TypeError(f"an observer is a callable taking a ChangeLogEntry; got {type(observer).__name__}")
        if priority is None:
            priority = getattr(observer, "priority", 0)
        self._registered.append((-int(priority), len(self._registered), observer))
        self._registered.sort(key=lambda item: item[:2])
        self._observers = tuple(item[2] for item in self._registered)
        return observer

    def unobserve(self, observer: Observer) -> None:
        """Stop calling `observer` (compared with ==, so `unobserve(items.append)` works); unknown
        observers are ignored."""
        self._registered = [item for item in self._registered if item[2] != observer]
        self._observers = tuple(item[2] for item in self._registered)

    @property
    def observers(self) -> tuple[Observer, ...]:
        """The observers in the order they are called."""
        return self._observers

    @property
    def observer_errors(self) -> int:
        """How many times an observer raised."""
        return sum(self.observer_error_counts.values())

    # -- history -----------------------------------------------------------------------------------

    def changes(self) -> list[ChangeLogEntry]:
        """The kept entries, oldest first."""
        return list(self.history)

    def last_change(self) -> ChangeLogEntry | None:
        return self.history[-1] if self.history else None

    def changes_since(self, since: ChangeLogEntry | dt.datetime | float | None) -> list[ChangeLogEntry]:
        """Entries after an entry (by sequence) or after a time (a datetime, naive meaning UTC,
        or epoch seconds), oldest first; None: every kept entry (what `last_change()` returns
        before the first change, so `mark = last_change()` ... `changes_since(mark)` always works).
        Reads back from the newest, so it costs what it returns."""
        if since is None:
            return list(self.history)
        if isinstance(since, ChangeLogEntry) and since.sequence is not None:
            sequence = since.sequence
            newer = itertools.takewhile(lambda entry: entry.sequence > sequence, reversed(self.history))
        else:
            epoch = _epoch(since)
            newer = itertools.takewhile(lambda entry: entry.epoch > epoch, reversed(self.history))
        found = list(newer)
        found.reverse()
        return found

    def clear_history(self) -> None:
        self.history.clear()

    def __repr__(self) -> str:
        kept = f"{len(self.history)}/{self.history.maxlen}" if self.history.maxlen is not None else len(self.history)
        return f"Tracker(entity={self.entity!r}, history={kept}, observers={len(self._observers)})"


def _epoch(since: ChangeLogEntry | dt.datetime | float) -> float:
    if isinstance(since, ChangeLogEntry):
        return since.epoch
    if isinstance(since, dt.datetime):
        if since.tzinfo is None:  # naive datetimes are UTC throughout pdip
            since = since.replace(tzinfo=dt.timezone.utc)
        return since.timestamp()
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    raise TypeError(f"changes_since takes a ChangeLogEntry, a datetime or epoch seconds; got {type(since).__name__}")


def _name_of(observer: Observer) -> str:
    name = getattr(observer, "__qualname__", None) or type(observer).__qualname__
    return f"{getattr(observer, '__module__', None) or type(observer).__module__}.{name}"


def _stack(depth: int) -> list[str]:
    """`file:line in function` for the `depth` innermost frames outside pdip.tracking."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_FOLDER):
        frame = frame.f_back
    found = []
    while frame is not None and len(found) < depth:
        code = frame.f_code
        found.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
        frame = frame.f_back
    return found
