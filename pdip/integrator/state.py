"""The integrator's own records: executions, checkpoints and dead letters, in a state database.

By default a SQLite file `.pdip/state.db` under the application's root; `INTEGRATOR.STATE_URL`
points it at any database SQLAlchemy reaches. A checkpoint holds where each partition of an
integration's source stood after its last written batch, whether the integration finished, and
for incremental mode the high-watermark, so the next run reads only what is new and a resumed
run starts where the interrupted one stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pdip.configuration import BaseConfig, Configuration
from pdip.conversion.tagged import dumps, loads
from pdip.data.times import UtcDateTime, utcnow
from pdip.dependency import ISingleton
from pdip.integrator.alerts import AlertsConfig
from pdip.integrator.errors import ExecutionExistsError, NothingToResumeError, UnknownExecutionError
from pdip.integrator.lineage import LineageConfig
from pdip.integrator.tracing import TracingConfig
from pdip.policy.secrets import mask_connection_string

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


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """An integration's state after the last batch it wrote: the execution that wrote it, the
    position of each partition (`""` when the source was not split), and whether it finished."""

    execution_id: str
    positions: dict[str, Any]
    finished: bool = False
    high_watermark: Any = None


class IntegratorConfig(BaseConfig):
    """The `INTEGRATOR` section: `LINEAGE` (OpenLineage events, `pdip.integrator.lineage`),
    `ALERTS` (email and webhooks when a run ends, `pdip.integrator.alerts`) and `TRACING`
    (OpenTelemetry spans, `pdip.integrator.tracing`) are off unless given."""

    state_url: str | None = None
    batch_size: int = 10_000
    lineage: LineageConfig | None = None
    alerts: AlertsConfig | None = None
    tracing: TracingConfig | None = None


class StateStore(ISingleton):
    def __init__(self, config: IntegratorConfig, configuration: Configuration):
        url = config.state_url or _default_url(configuration.root_directory)
        self.engine = sa.create_engine(url)
        self.location = describe_location(self.engine.url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_write_ahead_log)
        create_tables(self.engine, METADATA)

    # -- executions ------------------------------------------------------------------------------

    def start_execution(
        self, operation: str, execution_id: str | None = None, resume: bool = False
    ) -> tuple[str, bool]:
        """Record the run about to start as running; (its execution id, whether it resumes one).

        A new run gets `execution_id` (a new id when None), which must not exist yet: a run never
        overwrites another's record (`ExecutionExistsError`). `resume` continues `execution_id`, or
        the operation's latest run when None, which must exist, be of this operation and not have
        finished (`NothingToResumeError`); it keeps its record and start time."""
        with self.engine.begin() as connection:
            if resume:
                execution_id = self._resumable(connection, operation, execution_id)
                update = EXECUTIONS.update().where(EXECUTIONS.c.execution_id == execution_id)
                connection.execute(update.values(status="running", finished_at=None))
                return execution_id, True
            if execution_id is not None:
                existing = _execution(connection, execution_id)
                if existing is not None:
                    raise ExecutionExistsError(execution_id, existing["status"], self.location)
            execution_id = execution_id or uuid.uuid4().hex
            connection.execute(
                EXECUTIONS.insert().values(
                    execution_id=execution_id, operation=operation, status="running", started_at=utcnow()
                )
            )
        return execution_id, False

    def _resumable(self, connection: sa.Connection, operation: str, execution_id: str | None) -> str:
        if execution_id is None:
            execution_id = _unfinished_execution(connection, operation)
            if execution_id is None:
                raise NothingToResumeError(operation, self.location)
            return execution_id
        existing = _execution(connection, execution_id)
        if existing is None or existing["operation"] != operation or existing["status"] == "finished":
            found = None if existing is None else existing["operation"]
            raise NothingToResumeError(operation, self.location, execution_id, found)
        return execution_id

    def execution_finished(self, execution_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                EXECUTIONS.update()
                .where(EXECUTIONS.c.execution_id == execution_id)
                .values(status=status, finished_at=utcnow(), summary=json.dumps(summary))
            )

    def unfinished_execution(self, operation: str) -> str | None:
        """The id of the operation's latest run, unless that run finished (what `--resume` resumes)."""
        with self.engine.connect() as connection:
            return _unfinished_execution(connection, operation)

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        """One run's record, or None when there is no such run."""
        with self.engine.connect() as connection:
            return _execution(connection, execution_id)

    def known_execution(self, execution_id: str) -> dict[str, Any]:
        """One run's record; `UnknownExecutionError` (naming this database) when there is none."""
        record = self.execution(execution_id)
        if record is None:
            raise UnknownExecutionError(execution_id, self.location)
        return record

    def executions(
        self, limit: int = 20, operation: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The latest runs first, at most `limit`; only `operation`'s and with `status` when given."""
        query = sa.select(EXECUTIONS).order_by(EXECUTIONS.c.started_at.desc()).limit(limit)
        if operation is not None:
            query = query.where(EXECUTIONS.c.operation == operation)
        if status is not None:
            query = query.where(EXECUTIONS.c.status == status)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def operations(self) -> list[str]:
        """The names of the operations that have runs recorded, in order."""
        query = sa.select(EXECUTIONS.c.operation).distinct().order_by(EXECUTIONS.c.operation)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    # -- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, operation: str, integration: str) -> Checkpoint | None:
        """The integration's state after its last written batch, or None before its first."""
        query = sa.select(CHECKPOINTS).where(
            CHECKPOINTS.c.operation == operation, CHECKPOINTS.c.integration == integration
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        position = loads(row.position) if row.position else {}
        return Checkpoint(
            row.execution_id,
            dict(position.get("partitions") or {}),
            bool(position.get("finished")),
            loads(row.high_watermark) if row.high_watermark else None,
        )

    def save_checkpoint(self, operation: str, integration: str, checkpoint: Checkpoint) -> None:
        values = {
            "execution_id": checkpoint.execution_id,
            "position": dumps({"partitions": checkpoint.positions, "finished": checkpoint.finished}),
            "high_watermark": _dump(checkpoint.high_watermark),
            "updated_at": utcnow(),
        }
        with self.engine.begin() as connection:
            update_or_insert(connection, CHECKPOINTS, {"operation": operation, "integration": integration}, values)

    # -- dead letters ----------------------------------------------------------------------------

    def dead_letter(
        self,
        execution_id: str,
        integration: str,
        position: Any,
        rows: list[tuple[dict, str]],
        positions: list[Any] | None = None,
    ) -> None:
        """Store refused rows, read at `position`, or each at its own when `positions` says. The
        commit waits for the disk (`commits_waiting`): a target commits a position past them next."""
        now = utcnow()
        records = [
            {
                "execution_id": execution_id,
                "integration": integration,
                "position": _dump(position if not positions or positions[index] is None else positions[index]),
                "row": dumps(row),
                "reason": reason,
                "created_at": now,
            }
            for index, (row, reason) in enumerate(rows)
        ]
        with self.engine.connect() as connection, commits_waiting(connection), connection.begin():
            connection.execute(DEAD_LETTERS.insert(), records)

    def dead_letters(
        self, execution_id: str, integration: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        """An execution's dead letters in the order they were stored, `row` and `position` decoded;
        only `integration`'s when given, at most `limit`, after the first `offset`."""
        query = sa.select(DEAD_LETTERS).where(DEAD_LETTERS.c.execution_id == execution_id)
        if integration is not None:
            query = query.where(DEAD_LETTERS.c.integration == integration)
        query = query.order_by(DEAD_LETTERS.c.id).limit(limit).offset(offset or None)
        with self.engine.connect() as connection:
            return [
                {**row, "row": loads(row["row"]), "position": loads(row["position"]) if row["position"] else None}
                for row in connection.execute(query).mappings()
            ]

    def dead_letter_counts(self, execution_id: str) -> dict[str, int]:
        """How many dead letters each integration of an execution stored (integrations with none are left out)."""
        query = (
            sa.select(DEAD_LETTERS.c.integration, sa.func.count())
            .where(DEAD_LETTERS.c.execution_id == execution_id)
            .group_by(DEAD_LETTERS.c.integration)
        )
        with self.engine.connect() as connection:
            return {integration: count for integration, count in connection.execute(query)}

    def close(self) -> None:
        self.engine.dispose()


def create_tables(engine: sa.Engine, metadata: sa.MetaData, tables: list[sa.Table] | None = None) -> None:
    """`metadata.create_all`, tolerating another process that creates the same tables at the same
    moment (two `pdip run` sharing a state database or a target): the loser's CREATE fails with
    "already exists" (PostgreSQL: a duplicate key in its catalogue), and a second look finds the
    tables there."""
    for attempt in range(3):
        try:
            metadata.create_all(engine, tables=tables)
            return
        except sa.exc.DBAPIError as error:
            message = str(error.orig).lower()
            if ("exist" not in message and "duplicate key" not in message) or attempt == 2:
                raise


def update_or_insert(connection: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Set `values` in `table`'s row at `key`, inserting the row when there is none yet. Made for
    the rows the batch loop rewrites once per batch (a checkpoint, a target's position): the
    UPDATE is built once per table (`_update_at`), so each call only binds values and SQLAlchemy
    finds it compiled; building the statement each time cost more than running it."""
    bound = {f"key_{name}": value for name, value in key.items()}
    if connection.execute(_update_at(table, tuple(key)), {**bound, **values}).rowcount == 0:
        connection.execute(table.insert(), {**key, **values})


@functools.lru_cache(maxsize=32)
def _update_at(table: sa.Table, key: tuple[str, ...]) -> sa.Update:
    """`UPDATE table SET ... WHERE` each `key` column equals its parameter, which has a name of its
    own (`key_<column>`): a column's name is the parameter of its SET clause."""
    return table.update().where(*(table.c[name] == sa.bindparam(f"key_{name}") for name in key))


def sqlite_write_ahead_log(dbapi_connection: Any, _: Any) -> None:
    """SQLite files the integrator writes (its state, a SQLite target) run in WAL mode: a reader
    and a writer of one file (SQLite to the same file) do not lock each other out, and with
    `synchronous=NORMAL` a commit (a checkpoint, a batch) costs no fsync; a crash keeps every commit
    up to the last synced one. The busy timeout comes first: switching to WAL takes a lock too, and
    two runs may open a new file together."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def commits_waiting(connection: sa.Connection) -> Iterator[None]:
    """The connection's commits in the block wait for the disk: `synchronous=FULL` on a SQLite
    file, whose connections otherwise commit with `synchronous=NORMAL` (`sqlite_write_ahead_log`);
    other databases' commits wait already, unless a transaction says otherwise."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection  # sqlite3's: no SQLAlchemy transaction begins
    driver.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        driver.execute("PRAGMA synchronous=NORMAL")


def describe_location(url: sa.URL) -> str:
    """Where a state database is, for messages: a SQLite file's path, or the URL with its password
    masked (in the user part and in any `password=` parameter)."""
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return "an in-memory SQLite database"
        return f"SQLite file {Path(url.database).resolve()}"
    return mask_connection_string(url.render_as_string(hide_password=True))


def _execution(connection: sa.Connection, execution_id: str) -> dict[str, Any] | None:
    query = sa.select(EXECUTIONS).where(EXECUTIONS.c.execution_id == execution_id)
    row = connection.execute(query).mappings().first()
    return None if row is None else dict(row)


def _unfinished_execution(connection: sa.Connection, operation: str) -> str | None:
    query = (
        sa.select(EXECUTIONS.c.execution_id, EXECUTIONS.c.status)
        .where(EXECUTIONS.c.operation == operation)
        .order_by(EXECUTIONS.c.started_at.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    return None if row is None or row.status == "finished" else row.execution_id


def _default_url(root: Path | None) -> str:
    folder = Path(root or ".") / ".pdip"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'state.db'}"


def _dump(value: Any) -> str | None:
    return None if value is None else dumps(value)
