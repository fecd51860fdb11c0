"""`EventLog`: the events of executions the API started, kept in the state database.

`pdip api` runs several gunicorn worker processes and an execution runs in the one that started
it; its events are written here as they happen, so a client of any worker can follow them (a
polling tail, `ExecutionRunner.events`) and see its live counts. The table sits in the
integrator's state database (`INTEGRATOR.STATE_URL`, a SQLite file by default), beside the
execution records every worker already reads. Only the events of the last `kept` executions are
kept: the records keep the rest.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from pdip.integrator.state import create_tables

METADATA = sa.MetaData()

EVENTS = sa.Table(
    "pdip_execution_events",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(100), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("execution_id", "number", name="uq_pdip_execution_events_number"),
)


class EventLog:
    """Append and read one state database's execution events, each numbered within its execution."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        create_tables(engine, METADATA)

    def append(self, execution_id: str, number: int, event: dict[str, Any]) -> None:
        data = json.dumps(event, default=str)
        with self.engine.begin() as connection:
            connection.execute(EVENTS.insert().values(execution_id=execution_id, number=number, data=data))

    def since(self, execution_id: str, number: int = 0) -> list[dict[str, Any]]:
        """The execution's events from `number` on, in order."""
        query = (
            sa.select(EVENTS.c.data)
            .where(EVENTS.c.execution_id == execution_id, EVENTS.c.number >= number)
            .order_by(EVENTS.c.number)
        )
        with self.engine.connect() as connection:
            return [json.loads(data) for data in connection.execute(query).scalars()]

    def forget(self, kept: int) -> None:
        """Drop the events of all but the `kept` executions whose events were written last."""
        latest = sa.func.max(EVENTS.c.id)
        older = sa.select(EVENTS.c.execution_id).group_by(EVENTS.c.execution_id).order_by(latest.desc()).offset(kept)
        with self.engine.begin() as connection:
            gone = list(connection.execute(older).scalars())
            if gone:
                connection.execute(EVENTS.delete().where(EVENTS.c.execution_id.in_(gone)))
