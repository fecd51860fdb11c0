"""The stored note: a pdip Entity, so it has an Id, audit columns, a tenant and soft delete."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from pdip.data import Entity, Tracked


class Note(Entity, Tracked):
    __tablename__ = "example_notes"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(4000), default="")
    done: Mapped[bool] = mapped_column(default=False)
