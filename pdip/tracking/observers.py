"""Ready-made observers. Any callable taking a `ChangeLogEntry` is an observer; these add a bound,
a filter or a hop onto an asyncio loop.

- `ChangeCollector(limit)`: keeps the newest `limit` entries it saw (a test's best friend).
- `CallbackObserver(callback, actions=..., paths=..., entities=...)`: calls back for matching entries.
- `AsyncQueueObserver(loop)`: puts entries on an `asyncio.Queue` of a loop, from any thread.

Each has a `priority` (higher runs first) that `Tracker.observe` uses unless told otherwise.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pdip.tracking.entry import ChangeLogEntry


class ChangeCollector:
    """Keeps the newest `limit` entries (None: all of them) in the order they happened."""

    def __init__(self, limit: int | None = 1_000, priority: int = 0):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit is a number of entries (1 or more) or None; got {limit!r}")
        self.priority = priority
        self._entries: deque[ChangeLogEntry] = deque(maxlen=limit)

    def __call__(self, entry: ChangeLogEntry) -> None:
        self._entries.append(entry)

    @property
    def entries(self) -> list[ChangeLogEntry]:
        return list(self._entries)

    def as_list(self) -> list[ChangeLogEntry]:
        """The collected entries, oldest first (`entries`, as a call)."""
        return list(self._entries)

    def last(self) -> ChangeLogEntry | None:
        """The newest collected entry, or None."""
        return self._entries[-1] if self._entries else None

    @property
    def limit(self) -> int | None:
        return self._entries.maxlen

    def drain(self) -> list[ChangeLogEntry]:
        """The collected entries, oldest first; the collector is empty afterwards."""
        drained = []
        while True:
            try:
                drained.append(self._entries.popleft())
            except IndexError:
                return drained

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ChangeLogEntry]:
        return iter(list(self._entries))

    def __repr__(self) -> str:
        return f"ChangeCollector({len(self._entries)} entries, limit={self.limit})"


class CallbackObserver:
    """Calls `callback(entry)` for entries that match every filter given.

    `actions`: action names; `paths` and `entities`: globs (`orders[*].status`, where `*` matches
    any characters and brackets are literal) matched against the entry's path and entity.
    """

    def __init__(
        self,
        callback: Callable[[ChangeLogEntry], Any],
        *,
        actions: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        entities: Iterable[str] | None = None,
        priority: int = 0,
    ):
        if not callable(callback):
            raise TypeError(f"callback must be callable; got {type(callback).__name__}")
        self.callback = callback
        self.priority = priority
        self.actions = frozenset(actions) if actions is not None else None
        self._paths = _globs(paths)
        self._entities = _globs(entities)

    def matches(self, entry: ChangeLogEntry) -> bool:
        if self.actions is not None and entry.action not in self.actions:
            return False
        if self._paths is not None and not self._paths.fullmatch(entry.path or ""):
            return False
        return self._entities is None or self._entities.fullmatch(entry.entity or "") is not None

    def __call__(self, entry: ChangeLogEntry) -> None:
        if self.matches(entry):
            self.callback(entry)

    def __repr__(self) -> str:
        return f"CallbackObserver({getattr(self.callback, '__qualname__', self.callback)!r})"


def _globs(patterns: Iterable[str] | None) -> re.Pattern[str] | None:
    """One regular expression for several globs; brackets are literal (`orders[*]`)."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    parts = [fnmatch.translate(pattern.replace("[", "[[]")) for pattern in patterns]
    return re.compile("|".join(f"(?:{part})" for part in parts))


class AsyncQueueObserver:
    """Puts each entry on an `asyncio.Queue` belonging to `loop`, from whichever thread the change
    is made in (through `loop.call_soon_threadsafe` when that is not the loop's own thread).

    Make it inside the loop (`AsyncQueueObserver()` picks up the running loop) or pass `loop`.
    With `maxsize`, entries that find the queue full are counted in `dropped`, and `on_full`
    is called with each (nothing is dropped silently); `await observer.get()` reads the queue.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        maxsize: int = 0,
        priority: int = 0,
        on_full: Callable[[ChangeLogEntry], Any] | None = None,
    ):
        self.loop = loop or asyncio.get_running_loop()
        self.priority = priority
        self.on_full = on_full
        self.dropped = 0
        self._lock = threading.Lock()
        # asyncio.Queue binds to a loop on first use only, so it may be made outside the loop.
        self.queue: asyncio.Queue[ChangeLogEntry] = asyncio.Queue(maxsize=maxsize)

    def __call__(self, entry: ChangeLogEntry) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._put(entry)
        else:
            self.loop.call_soon_threadsafe(self._put, entry)  # RuntimeError once the loop is closed

    def _put(self, entry: ChangeLogEntry) -> None:
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            with self._lock:
                self.dropped += 1
            if self.on_full is not None:
                self.on_full(entry)

    async def get(self) -> ChangeLogEntry:
        return await self.queue.get()

    def __repr__(self) -> str:
        return f"AsyncQueueObserver({self.queue.qsize()} queued, dropped={self.dropped})"


class TelemetryObserver:
    """Counts changes by action on a Prometheus-style counter: anything with
    `counter.labels(action=...).inc()` (a `prometheus_client.Counter` with an `action` label)."""

    def __init__(self, counter: Any, priority: int = 0):
        if not callable(getattr(counter, "labels", None)):
            raise TypeError(
                "counter: expected a Prometheus-style counter with .labels(action=...).inc(); "
                f"got {type(counter).__name__}"
            )
        self.counter = counter
        self.priority = priority
        self._by_action: dict[str, Any] = {}  # the labelled child of each action, looked up once

    def __call__(self, entry: ChangeLogEntry) -> None:
        child = self._by_action.get(entry.action)
        if child is None:
            child = self._by_action[entry.action] = self.counter.labels(action=entry.action)
        child.inc()

    def __repr__(self) -> str:
        return f"TelemetryObserver({self.counter!r})"


COUNTER_NAME = "pdip_tracking_changes"


def telemetry_observer(counter: Any = None, *, priority: int = 0) -> TelemetryObserver:
    """An observer counting changes by action. Without `counter`, the `prometheus_client` counter
    `pdip_tracking_changes_total{action}` in its default registry (made once, shared by every
    observer made this way); needs the `metrics` extra (`pip install 'pdip[metrics]'`)."""
    return TelemetryObserver(_default_counter() if counter is None else counter, priority)


@functools.cache
def _default_counter() -> Any:
    """Made once: a registry refuses a second counter of the same name."""
    try:
        from prometheus_client import Counter
    except ImportError:  # pragma: no cover - only without the [metrics] extra
        raise ImportError(
            "telemetry_observer() without a counter needs prometheus-client: pip install 'pdip[metrics]', "
            "or pass a counter"
        ) from None
    return Counter(COUNTER_NAME, "Changes recorded by pdip tracked containers", ["action"])
