"""Planning an integration's read: its partitions, and where each starts.

Where a run starts:
- a fresh run reads everything (incremental: everything after the last high-watermark), and a
  target that stores positions forgets those of earlier runs;
- a resumed run (`--resume`) starts each partition of the interrupted integration right after
  its last durable batch, as the target recorded it in the batch's own transaction when it can
  (so nothing is written twice), or as the checkpoint recorded it; a target that only commits
  at the end (a file) starts over;
- a stream source (a topic, the outbox) always continues where the last run stopped.

Planning happens once, in the calling process, whatever the executor (docs/adr/0007).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pdip.integrator.adapters.base import Disposition, ReadRequest, Source, Target, keep_positions, partition_slot
from pdip.integrator.batch import ARROW
from pdip.integrator.errors import OperationError

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.runs.reporting import IntegrationRun

WHOLE = ""  # the partition name of a source that is read whole


@dataclasses.dataclass
class Plan:
    """How an integration reads: the request of each partition, whether it resumes, and the
    columns' types the source declares (for the target of an empty source)."""

    requests: list[ReadRequest]
    resuming: bool
    watermark: Any
    types: Any = None


def plan_reads(run: IntegrationRun, source: Source, target: Target, stores: bool, resume: bool, follow: bool) -> Plan:
    """`stores`: the target stores each batch's position in the batch's transaction."""
    integration = run.integration
    checkpoint = run.state.checkpoint(run.operation.name, integration.name)
    watermark = checkpoint.high_watermark if checkpoint and integration.mode == "incremental" else None
    target.disposition = Disposition.of(integration)  # a replacing target's positions depend on it, and what it accepts
    request = read_request(run, target, follow, watermark)
    requests = source.partitions(request, integration.parallelism) if integration.parallelism > 1 else [request]
    types = _declared(run, source, request)
    if stores:
        keep_positions(target, run.slot, source, integration.mode == "incremental")
    continuing = source.resumes_between_runs or (resume and target.commits_per_batch)
    if not continuing:
        if stores:
            target.forget_positions(run.slot)
        return Plan(requests, False, watermark, types)
    same_run = checkpoint is not None and checkpoint.execution_id == run.context.execution_id
    recorded = checkpoint.positions if checkpoint and (same_run or source.resumes_between_runs) else {}
    planned = []
    for item in requests:
        name = item.partition or WHOLE
        position = target.durable_position(partition_slot(run.slot, name)) if stores else None
        if position is None:
            position = recorded.get(name)
        planned.append(dataclasses.replace(item, resume=position))
    resuming = any(item.resume is not None for item in planned)
    return Plan(planned, resuming, watermark, types)


def read_request(run: IntegrationRun, target: Target, follow: bool, watermark: Any = None) -> ReadRequest:
    """What the integration asks of its source as a whole, before partitions and resume points."""
    integration = run.integration
    raw_allowed = run.policy is None and integration.cursor is None and not integration.columns
    return ReadRequest(
        integration.rows_per_batch(target.batch_rows),
        integration.columns,
        integration.cursor,
        watermark,
        key=integration.key,
        # an Arrow batch is read like any other (by a policy, for a cursor); a raw payload is not
        accept=target.accepts() if raw_allowed else tuple(form for form in target.accepts() if form == ARROW),
        follow=follow,
        range_size=integration.rows_per_batch(target.range_rows or target.batch_rows),
    )


def _declared(run: IntegrationRun, source: Source, request: ReadRequest) -> Any:
    """The columns' types the source declares; none under a policy, which may change a column's
    type, or when the source cannot say (a missing table: reading it reports that)."""
    if run.policy is not None:
        return None
    try:
        return source.schema(request)
    except OperationError:
        return None
