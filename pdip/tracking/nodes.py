"""What tracked dicts, lists and objects share: their place in a tree of nested containers.

A tracked container nested in another knows its parent and its key there, not its tracker: a
change deep inside walks up to the root, which holds the `Tracker`, writing the path on the way
(`orders[3].status`). So a change is recorded once, in the root's history, and moving things
around costs nothing until a nested change asks where it is. A list's children learn their
positions lazily: an insert or a delete only marks the list stale, and the next nested change
renumbers it once (see `TrackedList._key_of`).

A container removed from its tree (deleted, replaced, popped, cleared) is detached: its next
change makes it a root of its own, with a new tracker of the same options, so a stale
reference can never write into its old tree's history under a wrong path.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.paths import join, segment

if TYPE_CHECKING:
    from pdip.tracking.tracker import Tracker

# Values stored as they are: nothing inside them can change.
SCALARS = frozenset(
    {str, int, float, bool, type(None), bytes, complex, Decimal, dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID}
)

WHOLE = object()  # `_changed(step=WHOLE)`: the change is to the container itself (clear, sort)


class Detached:
    """The parent of a container that was removed from its tree; see the module docstring."""

    __slots__ = ("former_parent",)

    def __init__(self, former_parent: Node):
        self.former_parent = former_parent


class Node:
    """Base of TrackedDict, TrackedList and TrackedObject.

    Each subclass has the slots `_tracker` (set on a root), `_parent` (None on a root) and `_key`
    (the key in the parent).
    """

    __slots__ = ()

    _tracker: Tracker | None
    _parent: Any
    _key: Any

    # -- where am I --------------------------------------------------------------------------------

    def _location(self) -> tuple[Tracker | None, str]:
        """The root's tracker (None while an enclosing object is being constructed) and the path
        from the root to this container ("" for the root)."""
        parent = self._parent
        if parent is None:
            return self._tracker, ""
        if type(parent) is Detached:
            self._tracker = parent.former_parent.tracker.spawn()
            self._parent = None
            return self._tracker, ""
        tracker, prefix = parent._location()
        return tracker, join(prefix, segment(parent._key_of(self)))

    def _key_of(self, child: Node) -> Any:
        """The key under which `child` is stored here."""
        return child._key

    def _changed(self, action: str, key: Any, before: Any, after: Any, step: Any = None, added: bool = False) -> None:
        """Record a change at `key` of this container (path step from `step`, else from the key);
        with `step=WHOLE`, a change to the container itself; `added`: the key was not there."""
        tracker, prefix = self._location()
        if tracker is None:
            return
        if step is WHOLE:
            path = prefix or None
            key = None if self._parent is None else self._parent._key_of(self)
        else:
            path = join(prefix, step if step is not None else segment(key))
        tracker.record(action, key, path, before, after, added)

    def _adopted(self, parent: Node, key: Any) -> Node:
        """What to store when this container is put inside `parent` at `key`."""
        raise NotImplementedError

    # -- history, for users ------------------------------------------------------------------------

    @property
    def tracker(self) -> Tracker:
        """The tracker of the whole tree this container belongs to (its history and observers)."""
        tracker, _ = self._location()
        if tracker is None:
            raise AttributeError("tracking starts when the object's __init__ has returned")
        return tracker

    def tracking_changes(self, most_recent: int | None = None) -> list[ChangeLogEntry]:
        """Every kept change of the tree this container belongs to, oldest first; with
        `most_recent`, only that many of the newest."""
        changes = self.tracker.changes()
        if most_recent is None:
            return changes
        if isinstance(most_recent, bool) or not isinstance(most_recent, int):
            raise TypeError(f"most_recent is a number of entries or None; got {most_recent!r}")
        return changes[-most_recent:] if most_recent > 0 else []

    def last_change(self) -> ChangeLogEntry | None:
        """The newest change of the tree, or None."""
        return self.tracker.last_change()

    def changes_since(self, since: ChangeLogEntry | dt.datetime | float | None) -> list[ChangeLogEntry]:
        """Changes after `since`: an entry (by sequence), a datetime (naive means UTC) or epoch
        seconds; None (a `last_change()` taken before the first change) gives every kept change."""
        return self.tracker.changes_since(since)

    def tracking_add_observer(self, observer: Callable[[ChangeLogEntry], Any], priority: int | None = None) -> None:
        """Call `observer(entry)` after every change of the tree (`tracker.observe`: higher
        priorities first); an observer already registered is not added twice."""
        tracker = self.tracker
        if observer not in tracker.observers:
            tracker.observe(observer, priority)

    def tracking_remove_observer(self, observer: Callable[[ChangeLogEntry], Any]) -> None:
        """Stop calling `observer`; one that was not registered is ignored."""
        self.tracker.unobserve(observer)


def release(parent: Node, value: Any) -> None:
    """Detach `value` if it is a tracked container that `parent` held (it was removed or replaced)."""
    if isinstance(value, Node) and value._parent is parent:
        value._parent = Detached(parent)


def release_all(parent: Node, values: Any) -> None:
    for value in values:
        if type(value) not in SCALARS:
            release(parent, value)


def snapshot(value: Any) -> Any:
    """A deep, untracked copy of `value`: dicts, lists, tuples and sets copied; a TrackedObject
    as a dict of its public attributes; values that cannot change returned as they are."""
    kind = type(value)
    if kind in SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snapshot(item) for item in value]
    if kind is tuple:
        return tuple(snapshot(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return kind(snapshot(item) for item in value)
    if isinstance(value, Node):
        return {name: snapshot(item) for name, item in vars(value).items() if not name.startswith("_")}
    return copy.deepcopy(value)


def tracking_options(node: Node) -> dict[str, Any]:
    """The options of the tracker `node` records into, as keyword arguments for a new root."""
    tracker = node.tracker
    return {
        "name": tracker.entity,
        "history": tracker.history.maxlen,
        "snapshots": tracker.snapshots,
        "capture_stack": tracker.capture_stack,
        "tenant": tracker.tenant,
    }


def rebuild(cls: type, data: Any, options: dict[str, Any]) -> Node:
    """Unpickling and copying: a new root with the same contents and options, and no history."""
    return cls(data, **options)
