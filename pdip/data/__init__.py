"""The data layer: entities with audit, tenant and soft delete; repositories; unit of work; outbox; seeds.

Each name is imported from its module on first use (`from pdip.data import Repository` works as
ever): a process that only needs a piece of the layer (the integrator's SQL tables need
`pdip.data.times`) does not pay for the ORM, the outbox and the tracking they bring.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ChangeLogReader": "outbox",
    "ConstraintViolationError": "errors",
    "DataError": "errors",
    "DatabaseSessionManager": "session",
    "Entity": "domain",
    "EntityNotFoundError": "errors",
    "EntityNotStoredError": "errors",
    "Page": "repository",
    "Repository": "repository",
    "RepositoryProvider": "provider",
    "Seed": "seeds",
    "SeedRunner": "seeds",
    "TenantContext": "tenancy",
    "TenantMismatchError": "errors",
    "Tracked": "domain",
    "UnitOfWork": "unit_of_work",
    "current_tenant": "tenancy",
    "tenant": "tenancy",
    "transactionhandler": "unit_of_work",
}

__all__ = [
    "ChangeLogReader",
    "ConstraintViolationError",
    "DataError",
    "DatabaseSessionManager",
    "Entity",
    "EntityNotFoundError",
    "EntityNotStoredError",
    "Page",
    "Repository",
    "RepositoryProvider",
    "Seed",
    "SeedRunner",
    "TenantContext",
    "TenantMismatchError",
    "Tracked",
    "UnitOfWork",
    "current_tenant",
    "tenant",
    "transactionhandler",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pdip.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pdip.data.{home}"), name)
    globals()[name] = value  # found once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
