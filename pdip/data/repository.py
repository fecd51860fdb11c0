"""`Repository[T]`: finders and changes for one entity type, always within the current tenant.

Every query a repository builds starts from `query()`, which filters out soft-deleted rows
(unless `include_deleted=True`) and rows of other tenants (always), so no finder can leak a row
of another tenant, `get_by_id` with a known id included.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pdip.data.domain import Entity
from pdip.data.errors import EntityNotFoundError, EntityNotStoredError, TenantMismatchError
from pdip.data.tenancy import current_tenant

T = TypeVar("T", bound=Entity)
Ordering = str | sa.ColumnElement | Sequence[str | sa.ColumnElement] | None


@dataclasses.dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


class Repository(Generic[T]):
    def __init__(self, entity: type[T], session: Session):
        self.entity = entity
        self.session = session

    # -- reading ---------------------------------------------------------------------------------

    def query(self, include_deleted: bool = False) -> sa.Select:
        """A `select(entity)` with the tenant and soft-delete filters applied; add your own."""
        entity = self.entity
        tenant_id = current_tenant()
        tenant_filter = entity.TenantId.is_(None) if tenant_id is None else entity.TenantId == tenant_id
        query = sa.select(entity).where(tenant_filter)
        return query if include_deleted else query.where(entity.GcRecId.is_(None))

    def get(self, order_by: Ordering = None, include_deleted: bool = False) -> list[T]:
        """Every row (of the current tenant)."""
        return self._all(self._ordered(self.query(include_deleted), order_by))

    def get_by_id(self, entity_id: uuid.UUID | str, include_deleted: bool = False) -> T | None:
        query = self.query(include_deleted).where(self.entity.Id == _uuid(entity_id))
        return self.session.scalars(query).one_or_none()

    def first(self, order_by: Ordering = None, include_deleted: bool = False, **filters: Any) -> T | None:
        query = self._filtered(self.query(include_deleted), filters)
        return self.session.scalars(self._ordered(query, order_by).limit(1)).first()

    def filter_by(
        self,
        order_by: Ordering = None,
        limit: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> list[T]:
        query = self._ordered(self._filtered(self.query(include_deleted), filters), order_by)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return self._all(query)

    def count(self, include_deleted: bool = False, **filters: Any) -> int:
        query = self._filtered(self.query(include_deleted), filters)
        return self.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))

    def page(self, number: int = 1, size: int = 20, order_by: Ordering = None, **filters: Any) -> Page[T]:
        """Page `number` (from 1) of `size` rows; ordered by `Id` when no order is given, so pages
        never overlap."""
        if number < 1 or size < 1:
            raise ValueError(f"page number and size start at 1; got number={number}, size={size}")
        order = order_by if order_by is not None else self.entity.Id
        items = self.filter_by(order_by=order, limit=size, offset=(number - 1) * size, **filters)
        return Page(items, self.count(**filters), number, size)

    # -- changing --------------------------------------------------------------------------------

    def insert(self, entity: T) -> T:
        """Add `entity` and flush, so a broken constraint is reported here, naming the entity."""
        self.session.add(entity)
        self.session.flush([entity])
        return entity

    def insert_many(self, entities: Iterable[T]) -> list[T]:
        """Add many entities with one flush (bulk loads, seeds)."""
        entities = list(entities)
        self.session.add_all(entities)
        self.session.flush(entities)
        return entities

    def update(self, entity: T) -> T:
        """Flush the changes made to `entity` (audit columns are stamped; the tenant is checked).
        Returns the instance this unit of work holds: `entity` itself, or, for an entity kept
        from a unit of work that has ended, the stored row with the caller's changes applied."""
        entity = self._require_own(self._attached(entity))
        self.session.flush([entity])
        return entity

    def delete(self, entity_or_id: T | uuid.UUID | str) -> T:
        """Soft delete: the row stays, marked by `GcRecId`, and every finder skips it."""
        entity = self._resolve(entity_or_id)
        entity.GcRecId = uuid.uuid4()
        self.session.flush([entity])
        return entity

    def restore(self, entity_or_id: T | uuid.UUID | str) -> T:
        entity = self._resolve(entity_or_id, include_deleted=True)
        entity.GcRecId = None
        self.session.flush([entity])
        return entity

    def hard_delete(self, entity_or_id: T | uuid.UUID | str) -> None:
        """Remove the row for good."""
        entity = self._resolve(entity_or_id, include_deleted=True)
        self.session.delete(entity)
        self.session.flush([entity])

    # -- helpers ---------------------------------------------------------------------------------

    def _resolve(self, entity_or_id: T | uuid.UUID | str, include_deleted: bool = False) -> T:
        if isinstance(entity_or_id, self.entity):
            return self._require_own(self._attached(entity_or_id))
        entity = self.get_by_id(entity_or_id, include_deleted=include_deleted)
        if entity is None:
            raise EntityNotFoundError(self.entity.__name__, entity_or_id)
        return entity

    def _attached(self, entity: T) -> T:
        """`entity` as this session holds it. A flush passes over objects the session does not
        hold, so an entity kept from an ended unit of work would otherwise be "updated" without
        a statement or a change-log entry. It is loaded here (for the current tenant only) and
        the caller's values merged onto it, which records what changed."""
        if entity in self.session:
            return entity
        identity = sa.inspect(entity).identity
        if identity is None:
            raise EntityNotStoredError(self.entity.__name__)
        if self.get_by_id(identity[0], include_deleted=True) is None:
            raise EntityNotFoundError(self.entity.__name__, identity[0])
        return self.session.merge(entity)

    def _require_own(self, entity: T) -> T:
        """A row another tenant owns is refused even when the caller holds the object itself."""
        tenant_id = current_tenant()
        if entity.TenantId != tenant_id:
            raise TenantMismatchError(self.entity.__name__, entity.TenantId, tenant_id)
        return entity

    def _filtered(self, query: sa.Select, filters: dict[str, Any]) -> sa.Select:
        for name, value in filters.items():
            column = getattr(self.entity, name, None)
            if column is None:
                raise AttributeError(f"{self.entity.__name__} has no attribute {name!r} to filter by")
            query = query.where(column.is_(None) if value is None else column == value)
        return query

    def _ordered(self, query: sa.Select, order_by: Ordering) -> sa.Select:
        if order_by is None:
            return query
        orders = order_by if isinstance(order_by, (list, tuple)) else [order_by]
        return query.order_by(*(self._order(item) for item in orders))

    def _order(self, item: str | sa.ColumnElement) -> sa.ColumnElement:
        if not isinstance(item, str):
            return item
        descending = item.startswith("-")
        column = getattr(self.entity, item.lstrip("-"), None)
        if column is None:
            raise AttributeError(f"{self.entity.__name__} has no attribute {item.lstrip('-')!r} to order by")
        return column.desc() if descending else column.asc()

    def _all(self, query: sa.Select) -> list[T]:
        return list(self.session.scalars(query))


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
