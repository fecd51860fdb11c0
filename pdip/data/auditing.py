"""Stamping audit and tenant columns at flush time, so they are right however a row was changed.

Runs as the session's `before_flush` hook: new rows get `Id`, `CreateUserId/Time` and the current
tenant; changed rows get `UpdateUserId/Time`; a row of another tenant may be neither inserted,
changed nor deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from pdip.data.domain import Entity
from pdip.data.errors import TenantMismatchError
from pdip.data.tenancy import current_tenant
from pdip.data.times import utcnow
from pdip.tracking.actors import current_actor


def stamp_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    now, actor, tenant_id = utcnow(), current_actor(), current_tenant()
    for entity in session.new:
        if not isinstance(entity, Entity):
            continue
        # Each ORM attribute write costs microseconds: write only what is missing.
        if entity.TenantId is None and tenant_id is not None:
            entity.TenantId = tenant_id
        _check_tenant(entity, tenant_id)
        if entity.CreateUserId is None and actor is not None:
            entity.CreateUserId = actor
        if entity.CreateUserTime is None:
            entity.CreateUserTime = now
    for entity in session.dirty:
        if isinstance(entity, Entity) and session.is_modified(entity, include_collections=False):
            _check_tenant(entity, tenant_id, committed=True)
            entity.UpdateUserId = actor
            entity.UpdateUserTime = now
    for entity in session.deleted:
        if isinstance(entity, Entity):
            _check_tenant(entity, tenant_id, committed=True)


def _check_tenant(entity: Entity, tenant_id: str | None, committed: bool = False) -> None:
    """The row must belong to the current tenant, before the change (as stored) and after it."""
    tenants = {entity.TenantId}
    if committed:
        tenants.update(inspect(entity).attrs.TenantId.history.deleted)
    for row_tenant in tenants:
        if row_tenant != tenant_id:
            raise TenantMismatchError(type(entity).__name__, row_tenant, tenant_id)
