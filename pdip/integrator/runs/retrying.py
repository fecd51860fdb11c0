"""Retrying an integration after a transient failure, from its last durable position (docs/adr/0029).

Which errors are transient is each store's to say, not the integrator's: `Source.transient` and
`Target.transient` know their drivers (a lost connection, a deadlock, a serialization failure, a
broker away). A worker in another process (a reader, an applier, a Dask task) asks its own
store's classes and reports the answer with its failure (`TransientFailure`); in the calling
process the classes the registry serves for the integration's kinds are asked. Everything else
(a constraint, a type, a bad setting, a killed process) fails at once.

An attempt that fails on a transient error is followed, after a wait, by another that starts each
partition from its last durable position, as `--resume` would: where the target stored it with
its rows, else the checkpoint. The waits grow exponentially with jitter:

    wait before attempt n+1 = min(max_backoff, backoff * 2**(n-1)) * (1 - random() / 2)

so writers that met in a deadlock do not meet again at the same instant, and no wait exceeds
`max_backoff`. The clock (`sleep`) and the dice (`random`) are injectable for tests.
"""

from __future__ import annotations

import contextlib
import random as _random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from pdip.integrator.errors import AdapterNotFoundError, TransientFailure
from pdip.integrator.integrations import Connection, Retries

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.adapters.registry import AdapterRegistry

Judge = Callable[[BaseException], bool]


class RetryPolicy:
    """When to try again and how long to wait first, for one integration's `Retries`."""

    def __init__(
        self,
        retries: Retries,
        judges: Iterable[Judge] = (),
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ):
        self.retries = retries
        self.judges = tuple(judges)
        self.sleep = sleep
        self.random = random

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
        ceiling = min(self.retries.max_backoff, self.retries.backoff * 2 ** (attempt - 1))
        return ceiling * (1 - self.random() / 2)

    def retries_after(self, attempt: int, error: BaseException) -> bool:
        """Whether failed attempt number `attempt` is followed by another."""
        return attempt < self.retries.attempts and transient(error, self.judges)


def transient(error: BaseException, judges: Iterable[Judge]) -> bool:
    """Whether `error`, or an error it was raised from or while handling, is transient: a worker
    said so (`TransientFailure`), or one of the stores' `judges` does."""
    judges = tuple(judges)
    return any(isinstance(link, TransientFailure) or any(judge(link) for judge in judges) for link in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def judges_of(
    registry: AdapterRegistry, mode: str, source: Connection | None, target: Connection | None
) -> list[Judge]:
    """The `transient` methods of the classes that read `source` and write `target` in `mode`
    (a kind no adapter serves has none: its failure is not a passing one)."""
    judges = []
    for role, connection in (("source", source), ("target", target)):
        if connection is None:
            continue
        with contextlib.suppress(AdapterNotFoundError):
            served = getattr(registry.adapter(connection.kind, mode), role)
            if served is not None:
                judges.append(served.transient)
    return judges
