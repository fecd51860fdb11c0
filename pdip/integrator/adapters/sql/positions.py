"""Positions stored at a SQL target, in the same transaction as the rows they describe.

A target that can do this (`Capabilities.stores_positions`) makes a replay harmless: after a
crash the integrator asks the target where its last committed batch ended and the source starts
right after it, so each source row (or Kafka message) has its effect exactly once, whatever the
state database says. The table `pdip_target_position` holds one row per slot
(`operation/integration[/partition]`); positions are stored as typed JSON.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pdip.conversion.tagged import dumps, loads
from pdip.data.domain import UtcDateTime, utcnow
from pdip.integrator.state import create_tables

METADATA = sa.MetaData()

POSITIONS = sa.Table(
    "pdip_target_position",
    METADATA,
    sa.Column("slot", sa.String(400), primary_key=True),
    sa.Column("position", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)


def ensure_table(engine: sa.Engine) -> None:
    create_tables(engine, METADATA, [POSITIONS])


def store_position(connection: sa.Connection, slot: str, position: Any) -> None:
    """Record `position` under `slot`, inside the caller's open transaction."""
    values = {"position": dumps(position), "updated_at": utcnow()}
    updated = connection.execute(POSITIONS.update().where(POSITIONS.c.slot == slot).values(**values))
    if updated.rowcount == 0:
        connection.execute(POSITIONS.insert().values(slot=slot, **values))


def load_position(engine: sa.Engine, slot: str) -> Any:
    """The position last stored under `slot`, or None (also when the table does not exist yet)."""
    if not sa.inspect(engine).has_table(POSITIONS.name):
        return None
    with engine.connect() as connection:
        stored = connection.execute(sa.select(POSITIONS.c.position).where(POSITIONS.c.slot == slot)).scalar()
    return None if stored is None else loads(stored)


def forget_positions(engine: sa.Engine, prefix: str) -> None:
    """Drop every slot under `prefix` (a full run that starts over, not resuming)."""
    if not sa.inspect(engine).has_table(POSITIONS.name):
        return
    with engine.begin() as connection:
        below = POSITIONS.c.slot.startswith(f"{prefix}/", autoescape=True)  # `op/a` is not under `op/ab`
        connection.execute(POSITIONS.delete().where((POSITIONS.c.slot == prefix) | below))
