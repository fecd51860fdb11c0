"""The integrator's own records: executions, checkpoints and dead letters, in a state database.

By default a SQLite file `.pdip/state.db` under the application's root; `INTEGRATOR.STATE_URL`
points it at any database SQLAlchemy reaches. A checkpoint holds an integration's last position
and, for incremental mode, its high-watermark, so the next run reads only what is new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pdip.configuration import BaseConfig, Configuration
from pdip.conversion.tagged import dumps, loads
from pdip.data.domain import UtcDateTime, utcnow
from pdip.dependency import ISingleton

METADATA = sa.MetaData()

EXECUTIONS = sa.Table(
    "pdip_execution",
    METADATA,
    sa.Column("execution_id", sa.String(100), primary_key=True),
    sa.Column("operation", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("summary", sa.Text),
)

CHECKPOINTS = sa.Table(
    "pdip_checkpoint",
    METADATA,
    sa.Column("operation", sa.String(200), primary_key=True),
    sa.Column("integration", sa.String(200), primary_key=True),
    sa.Column("execution_id", sa.String(100), nullable=False),
    sa.Column("position", sa.Text),
    sa.Column("high_watermark", sa.Text),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

DEAD_LETTERS = sa.Table(
    "pdip_dead_letter",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(100), nullable=False, index=True),
    sa.Column("integration", sa.String(200), nullable=False),
    sa.Column("position", sa.Text),
    sa.Column("row", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)


class IntegratorConfig(BaseConfig):
    """The `INTEGRATOR` section."""

    state_url: str | None = None
    batch_size: int = 10_000


class StateStore(ISingleton):
    def __init__(self, config: IntegratorConfig, configuration: Configuration):
        url = config.state_url or _default_url(configuration.root_directory)
        self.engine = sa.create_engine(url)
        METADATA.create_all(self.engine)

    # -- executions ------------------------------------------------------------------------------

    def execution_started(self, execution_id: str, operation: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(EXECUTIONS.delete().where(EXECUTIONS.c.execution_id == execution_id))
            connection.execute(
                EXECUTIONS.insert().values(
                    execution_id=execution_id, operation=operation, status="running", started_at=utcnow()
                )
            )

    def execution_finished(self, execution_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                EXECUTIONS.update()
                .where(EXECUTIONS.c.execution_id == execution_id)
                .values(status=status, finished_at=utcnow(), summary=json.dumps(summary))
            )

    def executions(self, limit: int = 20) -> list[dict[str, Any]]:
        query = sa.select(EXECUTIONS).order_by(EXECUTIONS.c.started_at.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    # -- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, operation: str, integration: str) -> tuple[Any, Any]:
        """(position, high-watermark) of the integration's last committed batch, or (None, None)."""
        query = sa.select(CHECKPOINTS.c.position, CHECKPOINTS.c.high_watermark).where(
            CHECKPOINTS.c.operation == operation, CHECKPOINTS.c.integration == integration
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return (None, None) if row is None else (loads(row.position), loads(row.high_watermark))

    def save_checkpoint(
        self, operation: str, integration: str, execution_id: str, position: Any, high_watermark: Any
    ) -> None:
        key = (CHECKPOINTS.c.operation == operation) & (CHECKPOINTS.c.integration == integration)
        values = {
            "execution_id": execution_id,
            "position": _dump(position),
            "high_watermark": _dump(high_watermark),
            "updated_at": utcnow(),
        }
        with self.engine.begin() as connection:
            if connection.execute(CHECKPOINTS.update().where(key).values(**values)).rowcount == 0:
                connection.execute(CHECKPOINTS.insert().values(operation=operation, integration=integration, **values))

    # -- dead letters ----------------------------------------------------------------------------

    def dead_letter(self, execution_id: str, integration: str, position: Any, rows: list[tuple[dict, str]]) -> None:
        now = utcnow()
        records = [
            {
                "execution_id": execution_id,
                "integration": integration,
                "position": _dump(position),
                "row": dumps(row),
                "reason": reason,
                "created_at": now,
            }
            for row, reason in rows
        ]
        with self.engine.begin() as connection:
            connection.execute(DEAD_LETTERS.insert(), records)

    def dead_letters(self, execution_id: str) -> list[dict[str, Any]]:
        query = sa.select(DEAD_LETTERS).where(DEAD_LETTERS.c.execution_id == execution_id).order_by(DEAD_LETTERS.c.id)
        with self.engine.connect() as connection:
            return [{**row, "row": loads(row["row"])} for row in connection.execute(query).mappings()]

    def close(self) -> None:
        self.engine.dispose()


def _default_url(root: Path | None) -> str:
    folder = Path(root or ".") / ".pdip"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'state.db'}"


def _dump(value: Any) -> str | None:
    return None if value is None else dumps(value)
