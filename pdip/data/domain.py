"""`Entity`: the declarative base user entities subclass, with audit, tenant and soft-delete columns.

    class Note(Entity, Tracked):
        __tablename__ = "notes"
        title: Mapped[str]

Every entity gets `Id` (a UUID, native on PostgreSQL, CHAR(32) elsewhere), `CreateUserId`,
`CreateUserTime`, `UpdateUserId`, `UpdateUserTime` (UTC), `TenantId` and `GcRecId` (set when
the row is soft-deleted). The session stamps them; user code never has to.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pdip.data.times import UtcDateTime


class EntityBase(DeclarativeBase):
    """The registry and metadata all pdip entities share; subclass `Entity`, not this."""

    type_annotation_map = {dt.datetime: UtcDateTime, uuid.UUID: sa.Uuid}


class Entity(EntityBase):
    __abstract__ = True

    Id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    CreateUserId: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    CreateUserTime: Mapped[dt.datetime | None] = mapped_column(default=None)
    UpdateUserId: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    UpdateUserTime: Mapped[dt.datetime | None] = mapped_column(default=None)
    TenantId: Mapped[str | None] = mapped_column(sa.String(100), index=True, default=None)
    GcRecId: Mapped[uuid.UUID | None] = mapped_column(default=None)

    @property
    def is_deleted(self) -> bool:
        return self.GcRecId is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(Id={self.Id})"


class Tracked:
    """Mixin: every insert, update and delete of this entity writes a change-log entry in the same
    transaction (the outbox). `__tracked__ = True` on the class does the same."""

    __tracked__ = True


def is_tracked(entity: object) -> bool:
    return bool(getattr(type(entity), "__tracked__", False))
