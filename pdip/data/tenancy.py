"""The current tenant: applied to every read, stamped on every insert, checked on every change.

`with tenant("t1"):` sets it for a block (threads and asyncio tasks each keep their own);
the API layer sets it per request through `TenantContext`. With no tenant set, repositories see
and write only rows without a tenant, so a single-tenant application never thinks about it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from pdip.dependency import IScoped

_TENANT: contextvars.ContextVar[str | None] = contextvars.ContextVar("pdip_data_tenant", default=None)


@contextmanager
def tenant(tenant_id: str | None) -> Iterator[str | None]:
    """Within the block, repositories read and write the rows of `tenant_id`."""
    token = _TENANT.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _TENANT.reset(token)


def current_tenant() -> str | None:
    return _TENANT.get()


class TenantContext(IScoped):
    """The tenant of the current scope, for code that is handed one (an API request's header, say)."""

    @property
    def tenant_id(self) -> str | None:
        return current_tenant()

    def use(self, tenant_id: str | None):
        """`with tenant_context.use("t1"):`, the same as `with tenant("t1"):`."""
        return tenant(tenant_id)
