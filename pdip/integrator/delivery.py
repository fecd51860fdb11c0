"""What runs send out of the process: lineage events, alerts and traces, and what becomes of a send that fails.

All are event subscribers (`Integrator.subscribe`: `pdip.integrator.lineage`,
`pdip.integrator.alerts`, `pdip.integrator.tracing`), attached when the integrator is made if
`INTEGRATOR.LINEAGE`, `INTEGRATOR.ALERTS` or `INTEGRATOR.TRACING` is configured, so every executor
feeds them. A send
that fails (a collector, SMTP server or webhook that is down, refuses or times out) never fails
the run: it is counted in `DeliveryFailures` by channel (`integrator.deliveries.counts()`, which
a metrics exporter may read) and logged once per execution and channel, with the reason. What
can be checked before a run (a URL that is no URL, an address without `@`) is a configuration
error instead, reported by `pdip check` and when the integrator is made.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable
from typing import Any

from pdip.policy import MASK

LINEAGE, EMAIL, WEBHOOK, TRACING = "lineage", "email", "webhook", "tracing"
_REMEMBERED = 1024  # executions whose failures were logged, kept so each is logged once


class DeliveryFailures:
    """Sends that failed, counted per channel; the first of each execution and channel is logged."""

    def __init__(self, logger: Any):
        self.logger = logger
        self._counts: collections.Counter[str] = collections.Counter()
        self._logged: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def failed(self, channel: str, execution_id: str, reason: str, count: int = 1) -> None:
        """`count` sends of `channel` for `execution_id` failed (or were given up) for `reason`."""
        with self._lock:
            self._counts[channel] += count
            first = (channel, execution_id) not in self._logged
            if first:
                self._logged[(channel, execution_id)] = None
                while len(self._logged) > _REMEMBERED:
                    self._logged.popitem(last=False)
        if first:
            self.logger.error("%s of execution %s not delivered; the run goes on", channel, execution_id, reason=reason)

    def counts(self) -> dict[str, int]:
        """Failed sends so far, by channel (`lineage`, `email`, `webhook`, `tracing`)."""
        with self._lock:
            return dict(self._counts)


def scrubbed(text: str, secrets: Iterable[str | None]) -> str:
    """`text` (an error's message) with every one of `secrets` in it masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
