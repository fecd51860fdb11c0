"""Where a change's time goes between the writer's commit and the replica: stage times for
bench/bench_change_latency.py `--stages`.

    python bench/latency_stages.py TRACE_DIR run followed.yml --follow --no-progress

runs `pdip run` with a few of pdip's functions wrapped so that each process of the follower
(the reader child and the writer) notes, per batch, when it did what to which changes (a change
is known by its balance, the number the benchmark gives it). Nothing of this is in pdip itself:
timing every batch is the benchmark's business. The notes are JSON lines, one file per process:

    read       the outbox reader gave the batch out (entries up to an unbroken sequence)
    consumed   the Kafka source gave the batch out
    handed     the writer (this process) took the batch from the reader's pipe
    committed  the target committed the batch (Kafka: the broker confirmed every message)
    settle     the outbox reader waited for a gap to settle: for how long, and whether it did
    wait       the follower waited for new entries: for how long, and whether the read before found any

`stages` turns them, with the writers' commit times and the replica's apply stamps, into the
table the benchmark prints: each stage's p50/p90/p99, and the same stages averaged over the
slowest 1% of changes (where the tail goes).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_FILES: dict[int, Any] = {}


def note(directory: Path, kind: str, **fields: Any) -> None:
    pid = os.getpid()
    file = _FILES.get(pid)
    if file is None:
        file = _FILES[pid] = open(directory / f"stages-{pid}.jsonl", "a", buffering=1)  # noqa: SIM115 - the process's
    file.write(json.dumps({"kind": kind, "pid": pid, **fields}) + "\n")


def balances(entries: Iterable[Any]) -> list[int]:
    """The benchmark's change numbers of `entries` (their `Balance`)."""
    found = []
    for entry in entries:
        after = getattr(entry, "after", None) or {}
        if "Balance" in after:
            found.append(int(after["Balance"]))
    return found


def install(directory: Path) -> None:
    from pdip.data import outbox, wakeups
    from pdip.integrator.adapters.kafka import topics
    from pdip.integrator.changes import batch_entries
    from pdip.integrator.runs import writing

    run = outbox.ChangeLogReader._run

    def traced_run(self, *arguments):
        def each(item: tuple) -> None:
            note(directory, "read", at=time.time(), changes=balances(item[0]))

        return (yield from _noting(run(self, *arguments), each))

    outbox.ChangeLogReader._run = traced_run

    settled = outbox.settled_sequence

    @functools.wraps(settled)
    def traced_settled(*arguments, **keywords):
        started = time.time()
        result = settled(*arguments, **keywords)
        note(directory, "settle", at=started, took=time.time() - started, settled=result is not None)
        return result

    outbox.settled_sequence = traced_settled

    for waiting in (wakeups.Polling, wakeups.Notifications):
        _wrap_wait(directory, waiting)

    batch = topics.KafkaChangesSource._batch

    def traced_batch(self, items, rejected, position):
        note(directory, "consumed", at=time.time(), changes=balances(items))
        return batch(self, items, rejected, position)

    topics.KafkaChangesSource._batch = traced_batch

    write = writing.BatchWriter.write

    def traced_write(self, batch, rows_read=None, transformed=False):
        started = time.time()
        write(self, batch, rows_read, transformed)
        changes = balances(batch_entries(batch)) if batch.columns == ["entry"] else []
        role = "relay" if type(self.target).__name__ == "KafkaChangesTarget" else "replica"
        note(directory, "handed", at=started, changes=changes, role=role)
        note(directory, "committed", at=time.time(), changes=changes, role=role)

    writing.BatchWriter.write = traced_write


def _noting(generator, each: Callable[[Any], None]):
    """`yield from generator`, calling `each` with every item first; the generator's result."""
    try:
        item = next(generator)
        while True:
            each(item)
            yield item
            item = next(generator)
    except StopIteration as stop:
        return stop.value


def _wrap_wait(directory: Path, waiting: type) -> None:
    wait = waiting.wait

    def traced_wait(self, found: bool) -> None:
        started = time.time()
        held = getattr(self, "held", None) is not None  # a relay with a wake slot (`wakeups.Notifications`)
        wait(self, found)
        note(directory, "wait", at=started, took=time.time() - started, found=found, how=waiting.__name__, held=held)

    waiting.wait = traced_wait


# -- reading the notes --------------------------------------------------------------------------


def load(directory: Path) -> list[dict[str, Any]]:
    notes = []
    for path in sorted(directory.glob("stages-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                notes.append(json.loads(line))
    return notes


def first_times(notes: list[dict[str, Any]], kind: str, role: str | None = None) -> dict[int, float]:
    """Change number -> when it first went through stage `kind` (in a writer of `role`)."""
    times: dict[int, float] = {}
    for record in notes:
        if record["kind"] == kind and (role is None or record.get("role") == role):
            for change in record["changes"]:
                if change not in times or record["at"] < times[change]:
                    times[change] = record["at"]
    return times


def stages(
    directory: Path, committed: dict[int, float], applied: dict[int, float], kafka: bool
) -> list[tuple[str, dict[int, float]]]:
    """(stage, change -> seconds it spent there), in the order a change goes through them."""
    notes = load(directory)
    points = [("commit", committed), ("read", first_times(notes, "read"))]
    if kafka:
        points += [
            ("relay handed", first_times(notes, "handed", "relay")),
            ("relay confirmed", first_times(notes, "committed", "relay")),
            ("consumed", first_times(notes, "consumed")),
        ]
    points += [
        ("handed", first_times(notes, "handed", "replica")),
        ("applied", applied),
        ("committed", first_times(notes, "committed", "replica")),
    ]
    spans = []
    for (before, early), (after, late) in itertools.pairwise(points):
        spans.append((f"{before} -> {after}", {n: late[n] - early[n] for n in late if n in early and n in committed}))
    return spans


def report(spans: list[tuple[str, dict[int, float]]], total: dict[int, float]) -> list[str]:
    """Lines: each stage's p50/p90/p99/max in ms, and its mean over the slowest 1% of changes."""
    slowest = sorted(total, key=total.get)[-max(1, len(total) // 100) :]
    lines = [f"  {'stage':34} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'slowest 1%':>11}"]
    for name, values in spans:
        if not values:
            continue
        ordered = sorted(values.values())
        tail = [values[n] for n in slowest if n in values]

        def at(share: float, ordered: list[float] = ordered) -> float:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

        mean = sum(tail) / len(tail) * 1000 if tail else float("nan")
        highest = ordered[-1] * 1000
        lines.append(f"  {name:34} {at(0.5):7.1f} {at(0.9):7.1f} {at(0.99):7.1f} {highest:7.1f} {mean:11.1f}")
    return lines


def waits(directory: Path) -> list[str]:
    """How often the readers waited for new entries and for gaps, and how long."""
    notes = load(directory)
    lines = []
    for kind in ("settle", "wait"):
        took = sorted(record["took"] for record in notes if record["kind"] == kind)
        if took:
            count = len(took)
            extra = ""
            if kind == "settle":
                extra = f", {sum(1 for r in notes if r['kind'] == kind and not r['settled'])} not settled"
            lines.append(
                f"  {kind}: {count} times, p50 {took[count // 2] * 1000:.1f} ms, p99"
                f" {took[min(count - 1, int(0.99 * count))] * 1000:.1f} ms, total {sum(took):.2f} s{extra}"
            )
    lines.extend(_waits_by_kind(notes))
    reads = [len(record["changes"]) for record in notes if record["kind"] in ("read", "handed")]
    if reads:
        lines.append(f"  batches: {len(reads)} noted, mean {sum(reads) / len(reads):.1f} changes")
    return lines


def _waits_by_kind(notes: list[dict[str, Any]]) -> list[str]:
    """The waits apart: after a read that found entries or not, and whether the relay held a
    wake slot before (it waits for a notification, or lets the slot go) or not (it takes one
    and reads again at once, or, while a writer is about to commit, waits a while: it polls)."""
    lines = []
    kinds = {
        ("found", False): "after entries, takes a slot or polls",
        ("empty", False): "after nothing, takes a slot or polls",
        ("found", True): "after entries, lets its slot go",
        ("empty", True): "after nothing, waits for a notification",
    }
    for (found, held), name in kinds.items():
        took = sorted(
            record["took"]
            for record in notes
            if record["kind"] == "wait" and record["found"] == (found == "found") and record.get("held", False) == held
        )
        if took:
            count = len(took)
            lines.append(
                f"    {name}: {count} times, p50 {took[count // 2] * 1000:.1f} ms, p90"
                f" {took[min(count - 1, int(0.9 * count))] * 1000:.1f} ms, total {sum(took):.2f} s"
            )
    return lines


def main() -> None:
    directory = Path(sys.argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    install(directory)
    from pdip.cli import main as pdip_main

    sys.exit(pdip_main(sys.argv[2:]))


if __name__ == "__main__":
    main()
