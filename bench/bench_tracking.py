"""Change-tracking costs, as ratios to a plain dict measured in the same run.

    python bench/bench_tracking.py [--number 200000] [--history 100000]

1. `d[k] = v` on a TrackedDict with the default options, with an actor set (`tracking_actor`),
   with snapshots, with an observer, and three levels deep (`d["a"]["b"]["c"] = v`), against the
   same assignment on a plain dict (target: <= 1.5 us per change with the defaults).
2. A history of N changes (default 100,000) in ten slices: the cost per change of each slice, to
   show it stays flat as the history fills (pydatatracker 0.1.0 grew quadratically).
3. Memory: bytes per kept entry (target <= 250), and the tracemalloc peak of building that history.
"""

from __future__ import annotations

import argparse
import time
import timeit
import tracemalloc

from pdip.tracking import ChangeCollector, TrackedDict, tracking_actor

KEYS = [f"key{index}" for index in range(100)]


def per_call_us(function, number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def assignment_costs(number: int) -> dict[str, float]:
    plain: dict = {}
    tracked = TrackedDict()
    snapshots = TrackedDict(snapshots=True)
    observed = TrackedDict(observers=[ChangeCollector(limit=1_000)])
    nested = TrackedDict({"a": {"b": {"c": 0}}})
    deep = nested["a"]["b"]

    def plain_set():
        plain["status"] = "paid"

    def tracked_set():
        tracked["status"] = "paid"

    def snapshot_set():
        snapshots["status"] = "paid"

    def observed_set():
        observed["status"] = "paid"

    def nested_set():
        deep["c"] = 1

    figures = {
        "plain dict": per_call_us(plain_set, number),
        "TrackedDict, defaults": per_call_us(tracked_set, number),
        "  with snapshots": per_call_us(snapshot_set, number),
        "  with an observer": per_call_us(observed_set, number),
        "  three levels deep": per_call_us(nested_set, number),
    }
    with tracking_actor("bench"):
        figures["  with an actor"] = per_call_us(tracked_set, number)
    return figures


def history_slices(changes: int, slices: int = 10) -> list[float]:
    """Microseconds per change for each tenth of `changes` changes into one history."""
    tracked = TrackedDict(history=changes)
    size = changes // slices
    keys = KEYS
    found = []
    for start in range(0, size * slices, size):
        began = time.perf_counter()
        for index in range(start, start + size):
            tracked[keys[index % 100]] = index % 200
        found.append((time.perf_counter() - began) / size * 1e6)
    assert len(tracked.tracking_changes()) == size * slices
    return found


def memory_per_entry(changes: int) -> tuple[float, float]:
    """Bytes per kept entry, and the traced peak in KiB, for `changes` changes of small values."""
    tracked = TrackedDict({key: 0 for key in KEYS}, history=changes)
    keys = KEYS
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(changes):
        tracked[keys[index % 100]] = index % 200  # small ints are shared: what grows is the history
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (current - before) / changes, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="assignments per timing")
    parser.add_argument("--history", type=int, default=100_000, help="changes kept in the history test")
    arguments = parser.parse_args()

    costs = assignment_costs(arguments.number)
    baseline = costs["plain dict"]
    for what, figure in costs.items():
        ratio = "" if what == "plain dict" else f"{figure / baseline:.1f}x a plain dict ({baseline:.3f} us)"
        target = "target <= 1.5 us" if what == "TrackedDict, defaults" else ""
        report(f"d[k] = v, {what}", f"{figure:.3f} us", ratio, target)

    slices = history_slices(arguments.history)
    shown = " ".join(f"{figure:.2f}" for figure in slices)
    report(
        f"history of {arguments.history:,} changes",
        f"{sum(slices) / len(slices):.3f} us",
        f"per change by tenths: {shown}; last/first {slices[-1] / slices[0]:.2f}x",
        "flat",
    )
    per_entry, peak_kib = memory_per_entry(arguments.history)
    report("memory per kept entry", f"{per_entry:.0f} B", "", "target <= 250 B")
    report("peak memory", f"{peak_kib / 1024:.1f} MiB", f"traced while keeping {arguments.history:,} entries", "")


def report(what: str, figure: str, ratio: str, target: str) -> None:
    print(f"{what:<36} {figure:>10}   {ratio}   {target}".rstrip())


if __name__ == "__main__":
    main()
