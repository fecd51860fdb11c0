"""The application's tracked entity: every change of an account is written to the outbox."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from pdip.data import Entity, Tracked


class Account(Entity, Tracked):
    __tablename__ = "accounts"

    Name: Mapped[str] = mapped_column(String(100))
    Email: Mapped[str] = mapped_column(String(200))
    ApiToken: Mapped[str] = mapped_column(String(100))  # a secret: redacted before it leaves
    Balance: Mapped[int]
