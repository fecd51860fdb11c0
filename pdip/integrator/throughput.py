"""An integration's throughput over time, small enough to keep in its execution record.

Each written batch adds a sample `[seconds since the integration started, rows written so far]`.
The count is cumulative, so any two samples give the rate between them, and dropping samples
loses detail, never rows: when an integration has written `MAX_SAMPLES` batches, every other
sample is dropped (the first and the last stay) and the record keeps at most `MAX_SAMPLES` pairs
however long the run. The run history pages draw rows per second from them
(`pdip/api/static/runs.js`).
"""

from __future__ import annotations

MAX_SAMPLES = 200

Sample = list[float]  # [seconds, rows written so far]; a list, as it comes back from JSON


def add_sample(samples: list[Sample], seconds: float, rows: int) -> None:
    """Append `[seconds, rows]`, halving the samples kept when there are `MAX_SAMPLES` already."""
    if len(samples) >= MAX_SAMPLES:
        del samples[1:-1:2]  # the first and the last stay
    samples.append([round(seconds, 3), rows])


def joined(integrations: list[dict]) -> list[Sample]:
    """One execution's samples: its integrations' (stored summaries, in the order they ran) one
    after the other, each shifted by the seconds and rows of those before it."""
    samples: list[Sample] = []
    seconds, rows = 0.0, 0
    for integration in integrations:
        own = integration.get("throughput") or []
        samples.extend([round(seconds + at, 3), rows + count] for at, count in own)
        seconds += integration.get("seconds") or (own[-1][0] if own else 0.0)
        rows += own[-1][1] if own else 0
    return samples
