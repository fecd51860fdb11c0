"""gunicorn's workers take turns at one listening socket, so each holds an even share of the connections.

On one shared socket every idle worker wakes for a new connection and the first to run accepts
it: a client opening its keep-alive connections at once (a load balancer, a load test) had them
all, or most, on one worker, so one process (one core) served them. Sockets of their own per
worker (`SO_REUSEPORT`) leave the split to a hash of the client's address and port: 16
connections fell 11 / 5 often enough to cost a third of the throughput, and only Linux balances
them at all. Here each worker publishes how many connections it holds in memory shared by the
arbiter and its workers (`ConnectionShares`), and a worker holding more than another living
worker stops accepting until that one catches up (`BalancedThreadWorker`): the least loaded
worker always accepts, so no connection waits for a worker that will not take it, on any system
gunicorn runs on.

A worker's count is its open connections (gunicorn's `nr_conns`: in a request, kept alive or
waiting for data), written only by that worker's event loop; others may read it a moment late,
which makes them refuse, never over-accept. The arbiter hands out the slots as it forks workers
and frees a slot when its worker exits, however it ended. The workers the arbiter starts with
count from the start: the first one up takes one connection, then waits for the others to boot
(a worker that never does is replaced after gunicorn's `timeout`); a worker started later counts
from its first turn.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

FREE = -1  # a slot no living worker holds
RECHECK_SECONDS = 0.01  # how soon a worker that stopped accepting looks at the others again


class ConnectionShares:
    """How many connections each worker holds, one slot per worker, in memory that crosses the fork."""

    def __init__(self, slots: int, starting: int = 0):
        self.counts = multiprocessing.RawArray("q", [FREE] * slots)  # lock-free: one writer a slot
        self._held: set[int] = set()  # the arbiter's own record of the slots it handed out
        self._starting = starting  # the arbiter's first workers, still to be forked

    def assign(self, _server: Any, worker: Any) -> None:
        """gunicorn's pre_fork hook (in the arbiter): the worker about to be forked gets a free slot,
        or none when more workers run than were planned (`TTIN`), and then accepts without balancing."""
        free = [slot for slot in range(len(self.counts)) if slot not in self._held]
        worker.share_slot = free[0] if free else None
        worker.connection_shares = self
        if worker.share_slot is not None:
            self._held.add(worker.share_slot)
            # The first workers count as holding none while they boot, so the first one up does
            # not take every connection a client opens at the start; a later one (a replacement,
            # a reload's) counts from its first turn, so the others go on accepting meanwhile.
            self.counts[worker.share_slot] = 0 if self._starting > 0 else FREE
        self._starting = max(0, self._starting - 1)

    def release(self, _server: Any, worker: Any) -> None:
        """gunicorn's child_exit hook (in the arbiter): the slot of a worker that ended, however it
        ended, no longer counts, and is free for its successor."""
        slot = getattr(worker, "share_slot", None)
        if slot is not None:
            self.counts[slot] = FREE
            self._held.discard(slot)

    def publish(self, slot: int, connections: int) -> None:
        self.counts[slot] = connections

    def may_accept(self, slot: int) -> bool:
        """Whether the worker in `slot` holds no more connections than any other living worker."""
        mine = self.counts[slot]
        return all(count == FREE or mine <= count for index, count in enumerate(self.counts) if index != slot)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's `gthread` worker accepting only while it holds no more connections than the others.

    The worker's loop enables accepting before each wait for events when it has room
    (`worker_connections`); here that also takes its share being no larger than any other's, and
    a worker that is over its share looks again every `RECHECK_SECONDS` instead of every second."""

    share_slot: int | None = None  # both set by ConnectionShares.assign before the fork
    connection_shares: ConnectionShares | None = None

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self._fair())

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        self._publish()
        if self.alive and self.nr_conns < self.worker_connections:
            self.set_accept_enabled(True)  # on or off by the shares as they are now
            if not self._accepting:
                timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)

    def _fair(self) -> bool:
        self._publish()  # its own count as it is now: it may have accepted since the last wait
        shares, slot = self.connection_shares, self.share_slot
        return shares is None or slot is None or shares.may_accept(slot)

    def _publish(self) -> None:
        """Its count for the others; a stopping worker accepts nothing more, so it counts no longer."""
        if self.connection_shares is not None and self.share_slot is not None:
            self.connection_shares.publish(self.share_slot, self.nr_conns if self.alive else FREE)
