"""Positions stored at a SQL target, in the same transaction as the rows they describe.

A target that can do this (`Capabilities.stores_positions`) makes a replay harmless: after a
crash the integrator asks the target where its last committed batch ended and the source starts
right after it, so each source row (or Kafka message) has its effect exactly once, whatever the
state database says. The table `pdip_target_position` holds one row per slot
(`operation/integration[/partition]`); positions are stored as typed JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from pdip.conversion.tagged import dumps, loads
from pdip.data.times import UtcDateTime, utcnow
from pdip.integrator.state import create_tables, update_or_insert

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
    update_or_insert(connection, POSITIONS, {"slot": slot}, {"position": dumps(position), "updated_at": utcnow()})


def with_stored_offsets(connection: sa.Connection, slot: str, position: Any) -> Any:
    """`position`, and when it is Kafka offsets ({topic: {partition: offset}}), the offsets of the
    other partitions already stored under `slot` with it: several readers of one group may share
    a slot, each owning some partitions, so theirs are merged under a row lock, not replaced."""
    if not _is_offsets(position):
        return position
    query = sa.select(POSITIONS.c.position).where(POSITIONS.c.slot == slot)
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    stored = connection.execute(query).scalar()
    merged = loads(stored) if stored is not None else {}
    merged = {topic: dict(partitions) for topic, partitions in (merged or {}).items()} if _is_offsets(merged) else {}
    for topic, partitions in position.items():
        merged.setdefault(topic, {}).update(partitions)
    return merged


def _is_offsets(position: Any) -> bool:
    return isinstance(position, Mapping) and all(isinstance(value, Mapping) for value in position.values())


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
        forget_positions_in(connection, prefix)


def forget_positions_in(connection: sa.Connection, prefix: str) -> None:
    """Drop every slot under `prefix` inside the caller's open transaction (the table exists)."""
    below = POSITIONS.c.slot.startswith(f"{prefix}/", autoescape=True)  # `op/a` is not under `op/ab`
    connection.execute(POSITIONS.delete().where((POSITIONS.c.slot == prefix) | below))
