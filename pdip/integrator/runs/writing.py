"""The one batch loop: every executor hands its batches to `BatchWriter`, wherever it runs.

For each batch, in this order:
1. what the source could not read (`Batch.rejected`) is dead-lettered, there and then: the
   target's commit stores a position past those rows, and a crash just after it must not lose
   them (a crash before it reads them again, so they may be stored twice, never lost); a
   target that can hands the rows it refuses over the same way before its commit
   (`Target.refusing`);
2. the field policy is applied (unless the reader process already did);
3. the target is prepared before its first batch (created, emptied), then writes and commits
   the batch (a target that stores positions stores the batch's in the same transaction);
4. what the target changed of its schema to take the batch is reported (`Integration.schema`),
   and rows the target refused and did not hand over are dead-lettered;
5. the batch is reported: in the calling process that saves the checkpoint there and then;
   from a child process (an applier, a Dask task) the report travels to the caller, and the
   position stored with the rows is what a resume trusts (docs/adr/0007);
6. only then is the source told the batch is durable (`acknowledge`: a Kafka consumer commits).

A target that gathers several batches into one commit (a Delta table, `Target.holding`) keeps
steps 4-6 of the batches it holds until its commit has made them durable: nothing is reported,
checkpointed or acknowledged of a batch a crash could still lose.

Reports are the small messages of `pdip.integrator.runs.reporting`; `Progress` turns them into
checkpoints, events and dead letters, so no executor keeps books of its own.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.base import Disposition, Target, prepare_target
from pdip.integrator.batch import Batch
from pdip.integrator.integrations import Integration
from pdip.integrator.runs.reporting import BatchDone, Message, RowsRefused, SchemaChanged, Warned
from pdip.integrator.types import column_names

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.policy import Policy

Report = Callable[[Message], None]


class BatchWriter:
    """Writes one integration's batches to `target`, reporting each and then acknowledging it.

    `prepared`: the target was already prepared (created or emptied) by someone else.
    """

    def __init__(
        self,
        integration: Integration,
        target: Target,
        policy: Policy | None,
        report: Report,
        acknowledge: Callable[[Batch], None],
        truncate: bool,
        prepared: bool = False,
    ):
        self.integration = integration
        self.target = target
        target.disposition = Disposition.of(integration)  # append, merge or replace: before `prepare`
        self.policy = policy
        self.report = report
        self.acknowledge = acknowledge
        self.truncate = truncate
        self.prepared = prepared
        self.held: list[tuple[list[Message], Batch]] = []  # reports of batches the target holds, in order
        target.schema_changes = integration.schema
        target.batch_size = integration.rows_per_batch(target.batch_rows)

    def prepare(self, columns: Sequence[str], types: Any = None) -> None:
        """Create or empty the target once, before anything is written to it."""
        if not self.prepared:
            prepare_target(self.target, columns, self.integration.create_target, self.truncate, types)
            self.prepared = True

    def write(self, batch: Batch, rows_read: int | None = None, transformed: bool = False) -> None:
        """`rows_read`: rows the source read for `batch` before any policy dropped some (its
        length by default); `transformed`: the policy was already applied (by the reader)."""
        started = time.perf_counter()
        partition = batch.partition or ""
        reports: list[Message] = []
        if batch.rejected:  # stored now, before the target commits a position past them
            self.report(RowsRefused(partition, batch.position, plain_rows(batch.rejected), batch.rejected_at))
        ready = batch if transformed else with_policy(self.policy, self.integration, batch)
        self.prepare(ready.columns)
        refused = functools.partial(self._refused, partition, batch.position, ready)
        self.target.refuse_now = lambda rows: self.report(refused(rows))  # `Target.refusing`
        try:
            written = self.target.write(ready)
        finally:
            self.target.refuse_now = None
        self.target.commit()
        if written.schema_changes or written.values_discarded:
            reports.append(SchemaChanged(partition, list(written.schema_changes), dict(written.values_discarded)))
        if written.rejected:  # a target that commits before it says (`Target.refusing`)
            reports.append(refused(written.rejected))
        read = (len(batch) if rows_read is None else rows_read) + len(batch.rejected)
        reports.append(
            BatchDone(
                partition,
                batch.position,
                read,
                written.written,
                time.perf_counter() - started,
                len(getattr(batch, "payload", None) or b""),
                high_watermark(batch, self.integration.cursor, None),
                batch.lag,
            )
        )
        self.held.append((reports, batch))
        if not self.target.holding():
            self._release()

    @staticmethod
    def _refused(partition: str, position: Any, ready: Batch, rejected: list[tuple[tuple, str]]) -> RowsRefused:
        """Rows the target refused of `ready`, each with its column names and where it was read."""
        rows = [(dict(zip(ready.columns, row, strict=False)), reason) for row, reason in rejected]
        return RowsRefused(partition, position, plain_rows(rows), ready.origins_of([row for row, _ in rejected]))

    def _release(self) -> None:
        """Report and acknowledge, in order, the batches the target has made durable."""
        held, self.held = self.held, []
        for reports, batch in held:
            for message in reports:
                self.report(message)
            self.acknowledge(batch)

    def finish(self, types: Any = None) -> None:
        """After the last batch: a target no batch reached is still prepared, from the columns'
        `types` the source declares (an empty source creates its table), then the target puts
        its output in place. A source file that named no columns either (without even a header
        line) gives no table to create: the run says so (`Warned`) and goes on."""
        columns = list(self.integration.columns or column_names(types))
        if not self.prepared and not columns and self.integration.source.get("path"):
            self.report(Warned("", no_columns(self.integration)))
        self.prepare(columns, types)
        self.target.finish()  # a target holding batches commits them here
        self._release()


def no_columns(integration: Integration) -> str:
    """What a run whose source file (or folder) read no rows and named no columns tells the user."""
    table = integration.target.get("table")
    said = f"{integration.source.get('path')} is empty (no header line, no rows), so no columns: nothing read"
    if integration.create_target and table:
        said += f" and table {table!r} was not created (it needs columns: name them in the source's `columns`)"
    return said


def with_policy(policy: Policy | None, integration: Integration, batch: Batch) -> Batch:
    """`batch` as the target may see it: the field policy applied to its rows, or to each of
    its change-log entries (dropping the entries the policy drops). What the source could not
    read stays with it, to be dead-lettered."""
    if policy is None:
        return batch
    scope = _scope(integration)
    if integration.mode == "changes":
        entries = [row[0] for row in batch.rows]
        kept = policy.apply_entries(entries, scope)
        if len(kept) == len(entries) and all(map(operator.is_, kept, entries)):
            return batch  # the usual batch: the policy changed nothing
        applied = Batch(batch.columns, [(entry,) for entry in kept], position=batch.position)
    else:
        applied = policy.apply_batch(batch, scope)
    applied.partition = batch.partition
    if applied is not batch:
        applied.rejected, applied.rejected_at = batch.rejected, batch.rejected_at
        if len(applied) == len(batch):  # the same rows in the same order: each still knows where it was read
            applied.origins = batch.origins
    return applied


@functools.lru_cache(maxsize=256)
def _scope_of(source_kind: str, source_name: str, table: str, topic: str, sink: str) -> tuple[str, ...]:
    scope = [f"source:{source_name or source_kind}", f"sink:{sink}"]
    if table:
        scope.append(f"table:{table}")
    if topic:
        scope.append(f"topic:{topic}")
    return tuple(scope)


def _scope(integration: Integration) -> tuple[str, ...]:
    """Where a batch is in a policy's terms: its source (and table or topic) and its sink."""
    source, target = integration.source, integration.target
    return _scope_of(
        source.kind,
        source.name or "",
        str(source.get("table") or ""),
        str(source.get("topic") or ""),
        target.name or target.kind,
    )


def plain(value: Any) -> Any:
    """A dead-lettered value as stored: a change-log entry as its dict."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) and not isinstance(value, type) else value


def plain_rows(rows: list[tuple[dict, str]]) -> list[tuple[dict, str]]:
    """Dead-letter rows with values any process can unpickle."""
    return [({name: plain(value) for name, value in row.items()}, reason) for row, reason in rows]


def high_watermark(batch: Batch, cursor: str | None, current: Any) -> Any:
    """The higher of `current` and the highest non-null `cursor` value in the batch."""
    if cursor is None or cursor not in batch.columns:
        return current
    index = batch.columns.index(cursor)
    values = [row[index] for row in batch.rows if row[index] is not None]
    if not values:
        return current
    highest = max(values)
    return highest if current is None or highest > current else current
