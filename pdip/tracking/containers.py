"""`TrackedDict` and `TrackedList`: a dict and a list that record each change they undergo.

    cart = TrackedDict({"orders": [{"status": "new"}]}, name="cart")
    cart["orders"][0]["status"] = "paid"
    cart.last_change()   # ChangeLogEntry(1: set cart 'status' orders[0].status: 'new' -> 'paid', ...)

They are real `dict` and `list` subclasses, so reads cost what they cost on a plain dict or list;
only mutations are overridden. Action names: `set` (item or slice assignment, `setdefault`,
`update`, `sort`, `reverse`), `delete` (`del`, `pop`, `popitem`), `append` (`append`, `extend`,
`+=`), `insert`, `remove`, `clear`. Building a container is not a change.

A dict or list stored in a tracked container is stored as a tracked copy (also when it already
is a tracked container somewhere), so a change deep inside is recorded once, in the root's
history, with its full path. Change a nested value through the container (`cart["orders"]`),
not through the plain dict you stored. Entries keep the value as you passed it (`after`) and the
value that was replaced (`before`); `snapshots=True` keeps deep copies instead.

Like dict and list themselves, these are not safe to mutate from several threads at once.
"""

from __future__ import annotations

import operator
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pdip.tracking.nodes import SCALARS, WHOLE, Node, rebuild, release, release_all, snapshot, tracking_options
from pdip.tracking.paths import segment, slice_text
from pdip.tracking.tracker import DEFAULT_HISTORY, Observer, Tracker

_MISSING = object()
_dict_get = dict.get
_dict_set = dict.__setitem__


def adopt(parent: Node, key: Any, value: Any) -> Any:
    """What `parent` stores for `value` at `key`: dicts and lists become tracked children."""
    kind = type(value)
    if kind is dict:
        return TrackedDict._child(value, parent, key)
    if kind is list:
        return TrackedList._child(value, parent, key)
    if isinstance(value, Node):
        return value._adopted(parent, key)
    if isinstance(value, defaultdict):
        return TrackedDefaultDict._child(value, parent, key)
    if isinstance(value, OrderedDict):
        return TrackedOrderedDict._child(value, parent, key)
    return value


def _root_tracker(
    tracker: Tracker | None,
    name: str | None,
    history: int | None,
    snapshots: bool,
    capture_stack: bool | int,
    tenant: str | None,
    observers: Iterable[Any],
    logger: Any,
) -> Tracker:
    if tracker is not None:
        return tracker
    return Tracker(
        name,
        history=history,
        snapshots=snapshots,
        capture_stack=capture_stack,
        tenant=tenant,
        observers=observers,
        logger=logger,
    )


class TrackedDict(Node, dict):
    """A dict that records every change. Options (keyword only) are those of `Tracker`; pass
    `tracker=` to record into an existing one. Items come only from the positional argument."""

    __slots__ = ("_key", "_parent", "_tracker")

    def __init__(
        self,
        data: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
        /,
        *,
        name: str | None = None,
        history: int | None = DEFAULT_HISTORY,
        snapshots: bool = False,
        capture_stack: bool | int = False,
        tenant: str | None = None,
        observers: Iterable[Observer | tuple[Observer, int]] = (),
        logger: Any = None,
        tracker: Tracker | None = None,
    ):
        dict.__init__(self)
        self._tracker = _root_tracker(tracker, name, history, snapshots, capture_stack, tenant, observers, logger)
        self._parent = None
        self._key = None
        self._fill(data)

    @classmethod
    def _child(cls, data: Mapping[Any, Any], parent: Node, key: Any) -> TrackedDict:
        child = dict.__new__(cls)
        child._tracker = None
        child._parent = parent
        child._key = key
        child._fill(data)
        return child

    def _fill(self, data: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> None:
        items = data.items() if isinstance(data, Mapping) else data
        for key, value in items:
            _dict_set(self, key, value if type(value) in SCALARS else adopt(self, key, value))

    def _adopted(self, parent: Node, key: Any) -> TrackedDict:
        return type(self)._child(self, parent, key)

    # -- changes -----------------------------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        before = _dict_get(self, key, _MISSING)
        if type(value) in SCALARS:
            _dict_set(self, key, value)
        elif value is before and isinstance(value, Node):
            return  # `d[k] += ...` on a nested container: the container recorded its own change
        else:
            _dict_set(self, key, adopt(self, key, value))
        if before is _MISSING:  # a new key: `extra["added"]`, so it reads apart from a None replaced
            if self._parent is None:
                self._tracker.record("set", key, key if type(key) is str else segment(key), None, value, True)
            else:
                self._changed("set", key, None, value, added=True)
            return
        if self._parent is None:  # the common case, kept short: a change at the top of a root
            self._tracker.record("set", key, key if type(key) is str else segment(key), before, value)
        else:
            self._changed("set", key, before, value)
        if type(before) not in SCALARS:
            release(self, before)

    def __delitem__(self, key: Any) -> None:
        before = dict.pop(self, key)
        self._changed("delete", key, before, None)
        release(self, before)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if not dict.__contains__(self, key):
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = dict.pop(self, key)
        self._changed("delete", key, value, None)
        release(self, value)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = dict.popitem(self)
        self._changed("delete", key, value, None)
        release(self, value)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if not dict.__contains__(self, key):
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, other: Any = (), /, **more: Any) -> None:
        if isinstance(other, Mapping):
            for key in other:
                self[key] = other[key]
        elif hasattr(other, "keys"):
            for key in other.keys():  # noqa: SIM118 - a mapping-like object that is not a Mapping
                self[key] = other[key]
        else:
            for key, value in other:
                self[key] = value
        for key, value in more.items():
            self[key] = value

    def __ior__(self, other: Any) -> TrackedDict:
        self.update(other)
        return self

    def clear(self) -> None:
        if not self:
            return
        before = dict(self)
        dict.clear(self)
        self._changed("clear", None, before, None, step=WHOLE)
        release_all(self, before.values())

    @classmethod
    def fromkeys(cls, keys: Iterable[Any], value: Any = None) -> TrackedDict:
        return cls(dict.fromkeys(keys, value))

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuild, (type(self), snapshot(self), tracking_options(self))


class TrackedDefaultDict(TrackedDict):
    """What a `collections.defaultdict` becomes in a tracked container (or made directly, as
    `TrackedDefaultDict(int, data, **options)`): reading a missing key stores `default_factory()`
    there, as defaultdict does, and records it as an added key. Not a `defaultdict` instance."""

    __slots__ = ("default_factory",)

    def __init__(self, default_factory: Callable[[], Any] | None = None, data: Any = (), /, **options: Any):
        if default_factory is not None and not callable(default_factory):
            raise TypeError(f"default_factory must be callable or None; got {type(default_factory).__name__}")
        self.default_factory = default_factory
        super().__init__(data, **options)

    @classmethod
    def _child(cls, data: Mapping[Any, Any], parent: Node, key: Any) -> TrackedDefaultDict:
        child = super()._child(data, parent, key)
        child.default_factory = getattr(data, "default_factory", None)
        return child

    def __missing__(self, key: Any) -> Any:
        if self.default_factory is None:
            raise KeyError(key)
        self[key] = self.default_factory()
        return dict.__getitem__(self, key)  # the stored form: a list or dict comes back tracked

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_default, (self.default_factory, snapshot(self), tracking_options(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default_factory!r}, {dict.__repr__(self)})"


def _rebuild_default(factory: Any, data: Any, options: dict[str, Any]) -> TrackedDefaultDict:
    return TrackedDefaultDict(factory, data, **options)


class TrackedOrderedDict(TrackedDict):
    """What a `collections.OrderedDict` becomes in a tracked container: a TrackedDict with
    `move_to_end` and `popitem(last=...)`, equal to another ordered dict only in the same order.
    A move is recorded as a `set` of the container itself, `before` and `after` its keys in order.
    Not an `OrderedDict` instance."""

    __slots__ = ()

    def move_to_end(self, key: Any, last: bool = True) -> None:
        keys = list(dict.__iter__(self))
        if key not in self:
            raise KeyError(key)
        if keys[-1 if last else 0] == key:
            return  # already there: nothing changed
        value = dict.pop(self, key)
        if last:
            _dict_set(self, key, value)
        else:
            rest = list(dict.items(self))
            dict.clear(self)
            _dict_set(self, key, value)
            for other, item in rest:
                _dict_set(self, other, item)
        self._changed("set", None, keys, list(dict.__iter__(self)), step=WHOLE)

    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        if last or not self:
            return super().popitem()
        key = next(iter(dict.__iter__(self)))
        return key, self.pop(key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (OrderedDict, TrackedOrderedDict)):
            return dict.__eq__(self, other) and list(self) == list(other)
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


class TrackedList(Node, list):
    """A list that records every change. Options (keyword only) are those of `Tracker`; pass
    `tracker=` to record into an existing one."""

    __slots__ = ("_key", "_parent", "_stale", "_tracker")

    def __init__(
        self,
        data: Iterable[Any] = (),
        /,
        *,
        name: str | None = None,
        history: int | None = DEFAULT_HISTORY,
        snapshots: bool = False,
        capture_stack: bool | int = False,
        tenant: str | None = None,
        observers: Iterable[Observer | tuple[Observer, int]] = (),
        logger: Any = None,
        tracker: Tracker | None = None,
    ):
        list.__init__(self)
        self._tracker = _root_tracker(tracker, name, history, snapshots, capture_stack, tenant, observers, logger)
        self._parent = None
        self._key = None
        self._stale = False
        self._fill(data)

    @classmethod
    def _child(cls, data: Iterable[Any], parent: Node, key: Any) -> TrackedList:
        child = list.__new__(cls)
        child._tracker = None
        child._parent = parent
        child._key = key
        child._stale = False
        child._fill(data)
        return child

    def _fill(self, data: Iterable[Any]) -> None:
        list.extend(self, self._adopt_all(0, list(data)))

    def _adopt_all(self, start: int, values: list[Any]) -> list[Any]:
        return [
            value if type(value) in SCALARS else adopt(self, start + offset, value)
            for offset, value in enumerate(values)
        ]

    def _adopted(self, parent: Node, key: Any) -> TrackedList:
        return TrackedList._child(self, parent, key)

    def _key_of(self, child: Node) -> Any:
        if self._stale:  # positions moved since the children last learnt them: renumber once
            for index, item in enumerate(list.__iter__(self)):
                if isinstance(item, Node) and item._parent is self:
                    item._key = index
            self._stale = False
        return child._key

    def _index(self, index: Any) -> int:
        """`index` as a position from the start; IndexError when out of range, as list does."""
        size = len(self)
        position = operator.index(index)
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError("list index out of range")
        return position

    # -- changes -----------------------------------------------------------------------------------

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            self._set_slice(index, value)
            return
        position = self._index(index)
        before = list.__getitem__(self, position)
        if type(value) not in SCALARS:
            if value is before and isinstance(value, Node):
                return  # `l[i] += ...` on a nested container: the container recorded its own change
            value_stored = adopt(self, position, value)
        else:
            value_stored = value
        list.__setitem__(self, position, value_stored)
        self._changed("set", position, before, value)
        if type(before) not in SCALARS:
            release(self, before)

    def _set_slice(self, index: slice, values: Iterable[Any]) -> None:
        new = list(values)
        before = list.__getitem__(self, index)
        if not before and not new:
            return  # `l[0:0] = []`: nothing changed
        text, descending = _slice_place(index, len(self))
        start = index.indices(len(self))[0]
        list.__setitem__(self, index, self._adopt_all(start, new))  # ValueError for a bad extended slice
        self._stale = True
        if descending:  # told from the lowest position up, as the path says
            before.reverse()
            new.reverse()
        self._changed("set", text, before, new, step=f"[{text}]")
        release_all(self, before)

    def __delitem__(self, index: Any) -> None:
        if isinstance(index, slice):
            before = list.__getitem__(self, index)
            if not before:
                return
            text, descending = _slice_place(index, len(self))
            list.__delitem__(self, index)
            self._stale = True
            if descending:
                before.reverse()
            self._changed("delete", text, before, None, step=f"[{text}]")
            release_all(self, before)
            return
        position = self._index(index)
        before = list.pop(self, position)
        self._stale = True
        self._changed("delete", position, before, None)
        release(self, before)

    def append(self, value: Any) -> None:
        position = len(self)
        list.append(self, value if type(value) in SCALARS else adopt(self, position, value))
        self._changed("append", position, None, value)

    def extend(self, values: Iterable[Any]) -> None:
        new = list(values)
        if not new:
            return
        start = len(self)
        list.extend(self, self._adopt_all(start, new))
        text = slice_text(start, start + len(new))
        self._changed("append", text, None, new, step=f"[{text}]")

    def __iadd__(self, values: Iterable[Any]) -> TrackedList:
        self.extend(values)
        return self

    def __imul__(self, times: int) -> TrackedList:
        times = operator.index(times)
        if times <= 0:
            self.clear()
        else:
            self.extend(list(self) * (times - 1))
        return self

    def insert(self, index: Any, value: Any) -> None:
        size = len(self)
        position = operator.index(index)
        position = max(position + size, 0) if position < 0 else min(position, size)
        list.insert(self, position, value if type(value) in SCALARS else adopt(self, position, value))
        self._stale = True
        self._changed("insert", position, None, value)

    def remove(self, value: Any) -> None:
        position = list.index(self, value)
        before = list.pop(self, position)
        self._stale = True
        self._changed("remove", position, before, None)
        release(self, before)

    def pop(self, index: Any = -1) -> Any:
        if not self:
            raise IndexError("pop from empty list")
        position = self._index(index)
        value = list.pop(self, position)
        self._stale = True
        self._changed("delete", position, value, None)
        release(self, value)
        return value

    def clear(self) -> None:
        if not self:
            return
        before = list(self)
        list.clear(self)
        self._changed("clear", None, before, None, step=WHOLE)
        release_all(self, before)

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        before = list(self)
        list.sort(self, key=key, reverse=reverse)
        self._reordered(before)

    def reverse(self) -> None:
        before = list(self)
        list.reverse(self)
        self._reordered(before)

    def _reordered(self, before: list[Any]) -> None:
        if all(old is new for old, new in zip(before, list.__iter__(self), strict=True)):
            return  # already in that order: nothing changed
        self._stale = True
        text = slice_text(0, len(before))
        self._changed("set", text, before, list(self), step=f"[{text}]")

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuild, (type(self), snapshot(self), tracking_options(self))


def _slice_place(index: slice, size: int) -> tuple[str, bool]:
    """The path text of the positions `index` selects in a list of `size`, lowest first (`l[::-1]`
    on three items is `0:3`, not `2:-1:-1`, which would read as another slice), and whether the
    slice ran from the highest position down."""
    start, stop, step = index.indices(size)
    if step == 1:
        return slice_text(start, max(stop, start)), False
    if step > 0:
        return slice_text(start, stop, step), False
    positions = range(start, stop, step)
    if not positions:
        return slice_text(start, start), False
    return slice_text(positions[-1], positions[0] + 1, -step), True
