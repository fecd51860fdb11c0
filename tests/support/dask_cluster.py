"""A local Dask cluster for tests, whose workers' coverage data is kept.

    cluster = start_cluster(2)
    ...
    stop_cluster(cluster)

The workers are subprocesses that coverage measures (`patch = subprocess` in .coveragerc), but
a local cluster ends them with SIGKILL, before they could write what they measured; so each is
asked to save its data first. Without coverage that request does nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

from pdip.integrator.executors.dask import local_cluster

CLOSE_SECONDS = 60


def start_cluster(workers: int = 2) -> Any:
    from distributed import Client

    cluster = local_cluster(workers, {})
    with Client(cluster.scheduler_address) as client:
        client.wait_for_workers(workers, timeout=60)
    return cluster


def stop_cluster(cluster: Any) -> None:
    from distributed import Client

    try:
        with Client(cluster.scheduler_address, timeout=10) as client:
            client.run(_save_coverage)
    finally:
        try:
            cluster.close(timeout=CLOSE_SECONDS)
        except TimeoutError:  # distributed's close once waited forever on workers already gone
            warnings.warn(f"the test cluster did not close within {CLOSE_SECONDS} s", stacklevel=2)


def _save_coverage() -> None:
    try:
        import coverage
    except ImportError:  # pragma: no cover - coverage is a dev dependency
        return
    current = coverage.Coverage.current()
    if current is not None:
        current.save()
