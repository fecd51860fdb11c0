"""Python's cycle collector paced for batch work.

An integration allocates a few objects per row or entry (tuples, dicts, change-log entries) by
the hundred thousand per second, and almost none of them form cycles. With the interpreter's
default pacing a collection starts every 700 new objects, and the older generations, holding
every batch still in flight, are walked again and again: on a stream of change-log entries that
was half of the writer's time (bench/bench_changes.py: 29k entries/s with the defaults, 65k/s
with collections paced per 100,000 objects). Cycles are still collected, only later. A pace of
one collection per 1,000,000 objects was tried and taken back: it saved the capture less than a
microsecond a change and doubled a follower's memory (docs/adr/0009, addenda).

The outbox paces it too while it writes a flush's entries (docs/adr/0009), so the module sits in
the data layer, which the integrator imports from without loading the ORM.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

BATCH_THRESHOLD = 100_000


@contextlib.contextmanager
def fewer_collections(threshold: int = BATCH_THRESHOLD) -> Iterator[None]:
    """Within the block, the youngest generation is collected every `threshold` allocations
    (unless the process already paces it more slowly, or has turned the collector off); the
    previous setting comes back at the end. Child processes forked inside inherit the pacing."""
    previous = gc.get_threshold()
    if previous[0] == 0 or previous[0] >= threshold:
        yield
        return
    gc.set_threshold(threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
