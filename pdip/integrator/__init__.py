"""The integrator: operations that move rows between stores, with events, checkpoints and dead letters.

`from pdip.integrator.base import Integrator` is the entry point; the adapters live in
`pdip.integrator.adapters`, one module per kind of store.
"""

from pdip.integrator.base import ExecutionResult, IntegrationResult, Integrator
from pdip.integrator.batch import Batch
from pdip.integrator.errors import (
    AdapterNotFoundError,
    ExecutionExistsError,
    IntegrationFailedError,
    NothingToResumeError,
    OperationError,
    RunRefusedError,
    UnknownExecutionError,
)
from pdip.integrator.models import Connection, Integration, Operation
from pdip.integrator.state import IntegratorConfig, StateStore

__all__ = [
    "AdapterNotFoundError",
    "Batch",
    "Connection",
    "ExecutionExistsError",
    "ExecutionResult",
    "Integration",
    "IntegrationFailedError",
    "IntegrationResult",
    "Integrator",
    "IntegratorConfig",
    "NothingToResumeError",
    "Operation",
    "OperationError",
    "RunRefusedError",
    "StateStore",
    "UnknownExecutionError",
]
