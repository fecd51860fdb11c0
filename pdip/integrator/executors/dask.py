"""The `dask` executor: each partition of an integration is a task on a Dask cluster.

    executor: dask                    # in the operation, or `pdip run op.yml --executor dask`
    scheduler: tcp://scheduler:8786   # omitted: a LocalCluster of worker processes on this machine
    retries: 2                        # a task that fails or is lost is run again this many more times

A task opens the source and the target itself, from their settings, reads its partition (a key
range of a table, a file of a folder, partitions of a topic), applies the field policy and
writes; nothing unpicklable crosses to the workers. What it does reaches the caller as messages
on a Dask queue, which the caller turns into the same typed events, checkpoints and dead letters
as the process executor produces, so progress bars, execution records and subscribers behave
alike. The first batch of an integration is written under a cluster-wide lock, so the target is
created and emptied once, not by every task.

A task whose target stores positions (SQL) continues from the position its partition last
committed, so a retried task, or a re-run with `--resume`, redoes only what was not written:
the keyed target shows no duplicates. The operation's `retries` are Dask's: a task whose worker
died, or that raised anything, is run again at once. An integration's `retries` (docs/adr/0029)
come after them: a task that failed on an error its store calls transient fails as a
`TransientFailure`, and the integration is tried again after a wait, its tasks submitted anew
(under new keys) from their partitions' durable positions. The result's `retries` counts both;
it is part of the execution record.

Secrets: the task's description (connections with their passwords, the policy with its salt) is
encrypted with the application's key (`APPLICATION_SECRET_KEY`) before it enters the task graph,
and decrypted by the worker, whose environment holds the same key. A local cluster gets the key
through its workers' environment (a new one per run when the application has none); for a remote
scheduler the key must be set on both sides, and a run that would ship a secret without it stops
with a message saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pdip.data.collector import fewer_collections
from pdip.integrator.errors import IntegrationFailedError, OperationError, TransientFailure
from pdip.integrator.executors import Endpoints, Executor, lives_here
from pdip.integrator.models import Integration, Operation
from pdip.integrator.runs.partitions import PartitionJob, PartitionWorker
from pdip.integrator.runs.reporting import PartitionStarted, Progress
from pdip.integrator.runs.retrying import judges_of, transient
from pdip.policy.secrets import mask_secrets

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.integrator.adapters.base import ReadRequest, Source
    from pdip.integrator.adapters.registry import AdapterRegistry
    from pdip.integrator.runs.planning import Plan
    from pdip.integrator.runs.reporting import IntegrationRun

KEY_VARIABLE = "APPLICATION_SECRET_KEY"
# A task that dies holding the first-write semaphore gives it back when its lease times out:
# seconds on a local cluster, rather than the default half-minute.
LOCAL_CLUSTER_SETTINGS = {
    "DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_TIMEOUT": "6s",
    "DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_VALIDATION_INTERVAL": "1s",
}
_POLL_SECONDS = 0.2
_LOG = logging.getLogger(__name__)


class DaskExecutor(Executor):
    """Plans here, then runs each partition as a task of the operation's Dask cluster."""

    def __init__(self, operation: Operation, registry: AdapterRegistry):
        super().__init__(operation, registry)
        self.session = DaskSession(operation)

    @staticmethod
    def unsuited(integration: Integration, target: Any, registry: AdapterRegistry) -> str | None:
        return unsuited(integration, target, registry)

    def reads_in_a_child(self, integration: Integration, source: Source, request: ReadRequest) -> bool:
        return True

    def run(self, run: IntegrationRun, endpoints: Endpoints, plan: Plan) -> None:
        stores = self.registry.adapter(run.integration.target.kind, run.integration.mode).capabilities.stores_positions
        endpoints.close()  # the tasks open their own
        DaskRun(self.session, run, self.operation).copy(plan, stores)

    def close(self) -> None:
        self.session.close()


class DaskSession:
    """A client of the operation's cluster (started here when no scheduler is named) for one run."""

    def __init__(self, operation: Operation):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - only without the [dask] extra
            raise OperationError(
                f"operation {operation.name!r} asks for executor: dask; install it with pip install 'pdip[dask]'"
            ) from None
        self.key = os.environ.get(KEY_VARIABLE) or None
        self.cluster = None
        if operation.scheduler:
            self.client = Client(operation.scheduler, timeout=30)
        else:
            from pdip.cryptography import CryptoService

            self.key = self.key or CryptoService.generate_key()
            self.cluster = local_cluster(min(os.cpu_count() or 2, 4), {KEY_VARIABLE: self.key})
            self.client = Client(self.cluster)

    def seal(self, job: PartitionJob) -> tuple[bool, bytes]:
        """The job as it enters the task graph: encrypted when a key is known; in clear only
        when it carries no secret."""
        data = pickle.dumps(job)
        if self.key:
            from pdip.cryptography import CryptoService

            return True, CryptoService([self.key]).encrypt_bytes(data)
        if _carries_secrets(job):
            raise OperationError(
                f"integration {job.integration.name!r}: its connections hold secrets and {KEY_VARIABLE} is not "
                "set; set the same key in this process's and the Dask workers' environment so they travel encrypted"
            )
        return False, data

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(workers: int, environment: dict[str, str]) -> Any:
    """A cluster of worker processes on this machine, started as fresh subprocesses (neither
    forked nor spawned from this one), so the user's script is never imported again by a worker
    and needs no `if __name__ == "__main__":` guard. The workers inherit `environment` (the key)
    through their process environment, never through a command line others could read."""
    from distributed.deploy.subprocess import SubprocessCluster

    environment = {**LOCAL_CLUSTER_SETTINGS, **environment}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        cluster = SubprocessCluster(
            n_workers=workers, threads_per_worker=1, worker_class="distributed.Worker", dashboard_address=None
        )
        _read_scheduler_log(cluster)
        return cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _read_scheduler_log(cluster: Any) -> None:
    """distributed's SubprocessCluster pipes its scheduler's stderr and reads the pipe only when
    the scheduler fails to start. A scheduler that has logged more than a pipe holds (64 KiB: a
    burst of connection errors on a loaded machine) then blocks at its next log line, and every
    run waiting on it hangs. So the pipe is read for as long as the scheduler lives, its lines
    passed to pdip's log at debug level."""
    stream = cluster.scheduler.process.stderr

    async def read() -> None:
        while line := await stream.readline():
            _LOG.debug("dask scheduler: %s", line.decode(errors="replace").rstrip())

    cluster.loop.add_callback(read)


class DaskRun:
    """One integration's partitions as tasks; the caller's side of the conversation."""

    def __init__(self, session: DaskSession, run: IntegrationRun, operation: Operation):
        self.session = session
        self.run = run
        self.operation = operation

    def copy(self, plan: Plan, stores_positions: bool) -> None:
        from distributed import Queue

        run, integration = self.run, self.run.integration
        names = f"pdip-{run.context.execution_id}-{integration.name}"
        queue = Queue(f"{names}-events", client=self.session.client)
        attempt = run.result.retries  # a task's key is new for each attempt of the integration
        futures = []
        for request in plan.requests:
            job = PartitionJob(
                integration,
                request,
                integration.mode,
                run.slot,
                stores_positions,
                run.context.execution_id,
                run.context.root,
                run.policy,
                queue.name,
                f"{names}-prepare",
                f"{names}-prepared" if not plan.resuming else "",
            )
            encrypted, payload = self.session.seal(job)
            futures.append(
                self.session.client.submit(
                    run_partition,
                    encrypted,
                    payload,
                    key=f"{names}-{request.partition or 'whole'}-{attempt}",
                    retries=self.operation.retries,
                    pure=False,
                )
            )
        self._follow(queue, futures, plan)

    def _follow(self, queue: Any, futures: list, plan: Plan) -> None:
        """Turn the tasks' messages into events, checkpoints and dead letters until all are done."""
        run = self.run
        progress = Progress(run, plan)
        try:
            while True:
                finished = all(future.done() for future in futures)
                for message in _drain(queue, wait=not finished):
                    progress.handle(message)
                if finished and not queue.qsize():
                    break
            failed = next((future for future in futures if future.status == "error"), None)
            if failed is not None:
                error = failed.exception()
                if isinstance(error, TransientFailure):
                    raise TransientFailure(run.integration.name, f"a task failed: {error.reason}")
                raise IntegrationFailedError(run.integration.name, f"a task failed: {type(error).__name__}: {error}")
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            run.result.retries += progress.retries
        progress.finish()


def _drain(queue: Any, wait: bool) -> Iterator[tuple]:
    """The messages waiting on the queue (after waiting briefly for one, when asked)."""
    count = queue.qsize()
    if count:
        yield from queue.get(batch=count)
    elif wait:
        try:
            yield queue.get(timeout=_POLL_SECONDS)
        except TimeoutError:
            return


def _carries_secrets(job: PartitionJob) -> bool:
    endpoints = [job.integration.source, job.integration.target]
    if any(
        endpoint is not None and mask_secrets(dict(endpoint.settings)) != dict(endpoint.settings)
        for endpoint in endpoints
    ):
        return True
    return bool(job.policy is not None and getattr(job.policy, "_hasher", None) is not None)


# -- the worker's side -----------------------------------------------------------------------------


def run_partition(encrypted: bool, payload: bytes) -> dict[str, Any]:
    """A task: read one partition, apply the policy, write; report each step on the job's queue."""
    with fewer_collections():
        return _partition(encrypted, payload)


def _partition(encrypted: bool, payload: bytes) -> dict[str, Any]:
    from distributed import Event, Queue, Semaphore

    from pdip.integrator.adapters.registry import AdapterRegistry

    job = _open(encrypted, payload)
    queue = Queue(job.queue)
    partition = job.request.partition or ""
    queue.put(PartitionStarted(partition, os.getpid()))
    worker = PartitionWorker(job, AdapterRegistry(), queue.put)
    empty = job.integration.truncate_target
    try:
        # The first write of the integration creates and empties the target: one task at a time
        # gets there. A semaphore lease, unlike a lock, is given back when its holder dies. A
        # target that is neither created nor emptied needs no such care.
        guarded = job.integration.create_target or empty
        batches = None
        with Semaphore(max_leases=1, name=job.lock) if guarded else contextlib.nullcontext():
            first = guarded and bool(job.prepared) and not Event(job.prepared).is_set()
            worker.writer.truncate = first and empty
            batches = worker.batches(emptied=first and empty)
            batch = next(batches, None)
            if batch is not None:
                worker.write(batch)
            if guarded and job.prepared:
                Event(job.prepared).set()
        for batch in batches:
            worker.write(batch)
        worker.target.finish()
    except Exception as error:  # noqa: BLE001 - a driver's error may not unpickle at the caller; its text always does
        integration = job.integration
        reason = f"partition {partition or 'whole'} of {integration.name}:\n{traceback.format_exc()}"
        if transient(error, judges_of(AdapterRegistry(), job.mode, integration.source, integration.target)):
            raise TransientFailure(integration.name, reason) from None
        raise RuntimeError(reason) from None
    finally:
        worker.close()
    return {"partition": partition}


def _open(encrypted: bool, payload: bytes) -> PartitionJob:
    if encrypted:
        from pdip.cryptography import CryptoService

        payload = CryptoService().decrypt_bytes(payload)
    return pickle.loads(payload)  # our own job, sealed by the caller (and encrypted when a key is set)


def unsuited(integration: Integration, target: Any, registry: AdapterRegistry) -> str | None:
    """Why the integration cannot run as Dask tasks, or None. Tasks run in other processes and
    write at once: memory stores (which live in the caller) and targets that write one file at
    the end (`target`, a target or its class, does not commit per batch, or `write: replace`
    swaps a table in) cannot take part."""
    for role, endpoint in (("source", integration.source), ("target", integration.target)):
        if lives_here(registry, endpoint, integration.mode):
            return (
                f"integration {integration.name!r}: a {endpoint.kind} {role} lives in the calling process; "
                "use executor: process or inline for it"
            )
    if not target.commits_per_batch or integration.write == "replace":
        return (
            f"integration {integration.name!r}: a {integration.target.kind} target is written whole at the end, "
            "which tasks writing at once cannot do; use executor: process for it"
        )
    return None
