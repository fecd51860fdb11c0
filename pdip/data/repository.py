"""`Repository[T]`: finders and changes for one entity type, always within the current tenant.

Every query a repository builds starts from `query()`, which filters out soft-deleted rows
(unless `include_deleted=True`) and rows of other tenants (always), so no finder can leak a row
of another tenant, `get_by_id` with a known id included.

The finders (`get`, `get_by_id`, `first`, `filter_by`, `count`, `page`) build each shape of
statement once (the entity, which filters, ordering by names, whether the tenant is set) with the
tenant, the values, the limit and the offset as bound parameters, and execute it with this
call's values. Building a select and its cache key anew cost about as much as SQLAlchemy's
execution of it, on every request of an API (issue #19). A filter on something other than a
column, a value that is an SQL expression or an ordering by expression is built each time.
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

_STATEMENTS: dict[tuple, sa.Select] = {}  # a finder's statement per shape, shared by every session
_MOST_SHAPES = 1024  # filter names come from code, not requests; past this many, statements are built per call
_TENANT, _ID, _LIMIT, _OFFSET, _FILTER = "pdip_tenant", "pdip_id", "pdip_limit", "pdip_offset", "pdip_filter_"


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
        return self.filter_by(order_by=order_by, include_deleted=include_deleted)

    def get_by_id(self, entity_id: uuid.UUID | str, include_deleted: bool = False) -> T | None:
        tenant_id = current_tenant()
        shape = (self.entity, _ID, include_deleted, tenant_id is None)
        statement = _STATEMENTS.get(shape)
        if statement is None:
            statement = _kept(shape, self._base(include_deleted, tenant_id).where(self.entity.Id == sa.bindparam(_ID)))
        parameters = {_ID: _uuid(entity_id)} if tenant_id is None else {_TENANT: tenant_id, _ID: _uuid(entity_id)}
        return self.session.scalars(statement, parameters).one_or_none()

    def first(self, order_by: Ordering = None, include_deleted: bool = False, **filters: Any) -> T | None:
        statement, parameters = self._finder(include_deleted, filters, order_by, limit=1)
        return self.session.scalars(statement, parameters).first()

    def filter_by(
        self,
        order_by: Ordering = None,
        limit: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> list[T]:
        statement, parameters = self._finder(include_deleted, filters, order_by, limit, offset)
        return list(self.session.scalars(statement, parameters))

    def count(self, include_deleted: bool = False, **filters: Any) -> int:
        statement, parameters = self._finder(include_deleted, filters, counted=True)
        return self.session.scalar(statement, parameters)

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
        self.session.flush()
        return entity

    def insert_many(self, entities: Iterable[T]) -> list[T]:
        """Add many entities with one flush (bulk loads, seeds)."""
        entities = list(entities)
        self.session.add_all(entities)
        self.session.flush()
        return entities

    def update(self, entity: T) -> T:
        """Flush the changes made to `entity` (audit columns are stamped; the tenant is checked).
        Returns the instance this unit of work holds: `entity` itself, or, for an entity kept
        from a unit of work that has ended, the stored row with the caller's changes applied."""
        entity = self._require_own(self._attached(entity))
        self.session.flush()
        return entity

    def delete(self, entity_or_id: T | uuid.UUID | str) -> T:
        """Soft delete: the row stays, marked by `GcRecId`, and every finder skips it."""
        entity = self._resolve(entity_or_id)
        entity.GcRecId = uuid.uuid4()
        self.session.flush()
        return entity

    def restore(self, entity_or_id: T | uuid.UUID | str) -> T:
        entity = self._resolve(entity_or_id, include_deleted=True)
        entity.GcRecId = None
        self.session.flush()
        return entity

    def hard_delete(self, entity_or_id: T | uuid.UUID | str) -> None:
        """Remove the row for good."""
        entity = self._resolve(entity_or_id, include_deleted=True)
        self.session.delete(entity)
        self.session.flush()

    # -- helpers ---------------------------------------------------------------------------------

    def _base(self, include_deleted: bool, tenant_id: str | None) -> sa.Select:
        """`query()` with the tenant as a bound parameter (`pdip_tenant`), for a kept statement."""
        entity = self.entity
        tenant_filter = entity.TenantId.is_(None) if tenant_id is None else entity.TenantId == sa.bindparam(_TENANT)
        query = sa.select(entity).where(tenant_filter)
        return query if include_deleted else query.where(entity.GcRecId.is_(None))

    def _finder(
        self,
        include_deleted: bool,
        filters: dict[str, Any],
        order_by: Ordering = None,
        limit: int | None = None,
        offset: int | None = None,
        counted: bool = False,
    ) -> tuple[sa.Select, dict[str, Any]]:
        """A finder's statement and parameters: kept per shape when it can be, else built."""
        tenant_id = current_tenant()
        shape = self._shape(include_deleted, tenant_id, filters, order_by, limit, offset, counted)
        if shape is None:
            query = self._ordered(self._filtered(self.query(include_deleted), filters), order_by)
            if counted:
                return sa.select(sa.func.count()).select_from(query.subquery()), {}
            query = query if limit is None else query.limit(limit)
            return (query.offset(offset) if offset else query), {}
        parameters = {_FILTER + name: value for name, value in filters.items() if value is not None}
        if tenant_id is not None:
            parameters[_TENANT] = tenant_id
        if limit is not None:
            parameters[_LIMIT] = limit
        if offset:
            parameters[_OFFSET] = offset
        statement = _STATEMENTS.get(shape)
        if statement is None:
            statement = _kept(shape, self._bound(include_deleted, tenant_id, filters, order_by, limit, offset, counted))
        return statement, parameters

    def _shape(self, include_deleted, tenant_id, filters, order_by, limit, offset, counted) -> tuple | None:
        """What a kept statement depends on; None when it cannot be kept."""
        orders = order_by if isinstance(order_by, (list, tuple)) else () if order_by is None else (order_by,)
        if not all(type(item) is str for item in orders):
            return None
        columns = sa.inspect(self.entity).column_attrs
        for name, value in filters.items():
            if name not in columns or isinstance(value, sa.ClauseElement):
                return None
        shape_of_filters = tuple((name, value is None) for name, value in filters.items())
        return (self.entity, include_deleted, tenant_id is None, shape_of_filters, tuple(orders),
                limit is not None, bool(offset), counted)  # fmt: skip

    def _bound(self, include_deleted, tenant_id, filters, order_by, limit, offset, counted) -> sa.Select:
        """The statement of a shape, its values as bound parameters."""
        query = self._base(include_deleted, tenant_id)
        for name, value in filters.items():
            column = getattr(self.entity, name)
            query = query.where(column.is_(None) if value is None else column == sa.bindparam(_FILTER + name))
        if counted:
            return sa.select(sa.func.count()).select_from(query.subquery())
        query = self._ordered(query, order_by)
        query = query if limit is None else query.limit(sa.bindparam(_LIMIT, type_=sa.BigInteger))
        return query.offset(sa.bindparam(_OFFSET, type_=sa.BigInteger)) if offset else query

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


def _kept(shape: tuple, statement: sa.Select) -> sa.Select:
    if len(_STATEMENTS) < _MOST_SHAPES:
        _STATEMENTS[shape] = statement
    return statement


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
