"""The one column type and clock for instants, shared by entities and the integrator's own tables.

Apart from `domain` so that a table of SQLAlchemy Core (the integrator's state, positions and
marks) takes it without importing the ORM that entities need.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Microseconds on MariaDB/MySQL too, whose DATETIME drops them unless asked.
UtcDateTime = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
