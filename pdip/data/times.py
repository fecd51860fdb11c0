"""The one column type and clock for instants, shared by entities and the integrator's own tables.

Apart from `domain` so that a table of SQLAlchemy Core (the integrator's state, positions and
marks) takes it without importing the ORM that entities need.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

_MYSQL = ("mysql", "mariadb")  # SQLAlchemy names MariaDB's dialect `mariadb` for mariadb:// URLs


class _Instant(sa.types.TypeDecorator):
    """A timestamp with time zone; on MariaDB/MySQL a DATETIME(6), whose plain DATETIME drops the
    microseconds unless asked. Chosen when a dialect asks, rather than by `with_variant`, so that
    naming the type does not import SQLAlchemy's MySQL dialect into every process (about 13 ms
    of CPU at the start of a run that never meets MySQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        if dialect.name in _MYSQL:
            from sqlalchemy.dialects import mysql

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)


UtcDateTime = _Instant()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
