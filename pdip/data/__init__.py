"""The data layer: entities with audit, tenant and soft delete; repositories; unit of work; outbox; seeds."""

from pdip.data.domain import Entity, Tracked
from pdip.data.errors import (
    ConstraintViolationError,
    DataError,
    EntityNotFoundError,
    EntityNotStoredError,
    TenantMismatchError,
)
from pdip.data.outbox import ChangeLogReader
from pdip.data.provider import RepositoryProvider
from pdip.data.repository import Page, Repository
from pdip.data.seeds import Seed, SeedRunner
from pdip.data.session import DatabaseSessionManager
from pdip.data.tenancy import TenantContext, current_tenant, tenant
from pdip.data.unit_of_work import UnitOfWork, transactionhandler

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
