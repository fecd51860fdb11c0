"""`TrackedObject`: a base class whose instances record every attribute assignment and deletion.

    class Order(TrackedObject, history=1_000):
        def __init__(self, number: str):
            self.number = number          # construction: not a change
            self.lines = []               # stored as a TrackedList, so its changes are tracked too

    order = Order("A-1")
    order.status = "paid"                 # set status: None -> 'paid'
    order.lines.append({"sku": "X"})      # append lines[0]

Recording starts when `__init__` returns (the class's metaclass says when; it derives from
ABCMeta, so abstract base classes mix in). Attributes whose names start with an underscore are
private state (caches, locks) and are not recorded. The entity of the entries is the class
name unless `name=` says otherwise. Class keywords (`history`, `snapshots`, `capture_stack`,
`tenant`, `name`, `logger`) set the tracker options of every instance; subclasses inherit them.

A TrackedObject stored inside a tracked container (or another TrackedObject) is not copied,
since objects have an identity: its changes are recorded in the tree it was last stored in.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from pdip.tracking.containers import adopt
from pdip.tracking.nodes import SCALARS, Node, release
from pdip.tracking.tracker import Tracker

_OPTIONS = ("name", "history", "snapshots", "capture_stack", "tenant", "logger")


class _TrackedObjectType(abc.ABCMeta):
    """Starts an instance's tracking once its `__init__` has returned."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance._start_tracking()
        return instance


class TrackedObject(Node, metaclass=_TrackedObjectType):
    """Base class for objects whose attribute changes are recorded; `TrackedObject(a=1, b=2)`
    also works on its own."""

    __slots__ = ("__dict__", "__weakref__", "_building", "_key", "_parent", "_tracker")

    _tracking_options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        options = {name: kwargs.pop(name) for name in _OPTIONS if name in kwargs}
        super().__init_subclass__(**kwargs)
        cls._tracking_options = {**cls._tracking_options, **options}

    def __new__(cls, *args: Any, **kwargs: Any) -> TrackedObject:
        instance = super().__new__(cls)
        object.__setattr__(instance, "_building", True)
        object.__setattr__(instance, "_parent", None)
        object.__setattr__(instance, "_key", None)
        object.__setattr__(instance, "_tracker", None)
        return instance

    def __init__(self, **attributes: Any) -> None:
        for name, value in attributes.items():
            setattr(self, name, value)

    def _start_tracking(self) -> None:
        self._building = False
        if self._parent is None:  # else it was stored somewhere while being built, and records there
            options = dict(type(self)._tracking_options)
            name = options.pop("name", None) or type(self).__name__
            self._tracker = Tracker(name, **options)

    def _location(self) -> tuple[Tracker | None, str]:
        if self._building:  # construction is not a change, nor is anything done to its parts meanwhile
            return None, ""
        return Node._location(self)

    def _adopted(self, parent: Node, key: Any) -> TrackedObject:
        self._parent = parent
        self._key = key
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        before = getattr(self, name, None)
        if type(value) in SCALARS:
            object.__setattr__(self, name, value)
        elif value is before and isinstance(value, Node):
            return  # `obj.items += [...]`: the list recorded its own change
        else:
            object.__setattr__(self, name, adopt(self, name, value))
        self._changed("set", name, before, value)
        if type(before) not in SCALARS:
            release(self, before)

    def __delattr__(self, name: str) -> None:
        if name.startswith("_"):
            object.__delattr__(self, name)
            return
        before = getattr(self, name, None)
        object.__delattr__(self, name)
        self._changed("delete", name, before, None)
        release(self, before)
