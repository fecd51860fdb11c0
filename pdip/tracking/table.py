"""The SQL table change-log entries are stored in: the repository's outbox and the SQL exporter.

One layout on SQLite, PostgreSQL and MariaDB: `sequence` is the primary key and strictly
increasing, and the only index (readers go by sequence; every further index would slow every
tracked write); `key`, `before`, `after` and `extra` hold tagged JSON text (see
`pdip.conversion.tagged`) so values keep their types; `timestamp` is UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pdip.conversion.tagged import dumps, loads
from pdip.tracking.entry import SCHEMA_VERSION, ChangeLogEntry

TABLE_NAME = "pdip_change_log"

# Microseconds on MariaDB/MySQL too, whose DATETIME drops them unless asked.
_UTC_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


WAKE_TRIGGER = "pdip_wake"
WAKE_SLOTS = 4  # readers of one table that can wait for writers' notifications at a time
_WAKE_TAG = 0x70646970  # "pdip" in ASCII: the second key of a wake slot's advisory lock, plus the slot

# The trigger function's body: it takes every slot shared until the transaction ends (no
# reader can start waiting meanwhile) and notifies when a reader holds one. See pdip.data.wakeups.
WAKE_FUNCTION_BODY = (
    " DECLARE waiting boolean := false; BEGIN"
    f" FOR slot IN 0..{WAKE_SLOTS - 1} LOOP"
    f" IF NOT pg_try_advisory_xact_lock_shared(TG_RELID::integer, {_WAKE_TAG} + slot) THEN waiting := true; END IF;"
    " END LOOP;"
    " IF waiting THEN PERFORM pg_notify(TG_TABLE_NAME, ''); END IF;"
    " RETURN NULL; END "
)


def change_log_table(metadata: sa.MetaData, name: str = TABLE_NAME, schema: str | None = None) -> sa.Table:
    """The change-log table's definition, added to `metadata`. On PostgreSQL it is created with
    its wake-up trigger (`wake_trigger_sql`)."""
    table = sa.Table(
        name,
        metadata,
        sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False, default=SCHEMA_VERSION),
        sa.Column("timestamp", _UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(200)),
        sa.Column("key", sa.Text),
        sa.Column("path", sa.String(500)),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("tenant", sa.String(100)),
        sa.Column("extra", sa.Text),
        schema=schema,
    )
    sa.event.listen(table, "after_create", _create_wake_trigger)
    return table


def wake_lock_keys(table_oid: int) -> list[tuple[int, int]]:
    """The advisory lock keys of the wake slots of the table whose oid (as an integer) is given."""
    return [(table_oid, _WAKE_TAG + slot) for slot in range(WAKE_SLOTS)]


def wake_trigger_sql(table: sa.Table, preparer: sa.sql.compiler.IdentifierPreparer) -> list[str]:
    """PostgreSQL statements that make an insert into `table` send a notification on the channel
    named after the table while a relay waits there, from the writer's own transaction: it is
    delivered when (and only if) the entries are committed, so the relay wakes as they become
    readable. Once per statement (and PostgreSQL folds equal notifications of a transaction into
    one), so a bulk write costs one, not one per row; none while no relay waits (a notifying
    transaction holds a database-wide lock through its commit)."""
    quoted = preparer.format_table(table)
    function = f"{preparer.quote_schema(table.schema)}.pdip_wake_relay" if table.schema else "pdip_wake_relay"
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $${WAKE_FUNCTION_BODY}$$",
        f"DROP TRIGGER IF EXISTS {WAKE_TRIGGER} ON {quoted}",
        f"CREATE TRIGGER {WAKE_TRIGGER} AFTER INSERT ON {quoted} FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def _create_wake_trigger(table: sa.Table, connection: sa.Connection, **_: Any) -> None:
    if connection.dialect.name == "postgresql":
        for statement in wake_trigger_sql(table, connection.dialect.identifier_preparer):
            connection.exec_driver_sql(statement)


# The columns `entry_values` fills, in the table's order (the database assigns `sequence`).
ENTRY_COLUMNS = tuple(column.name for column in change_log_table(sa.MetaData()).columns if column.name != "sequence")


def entry_values(entry: ChangeLogEntry, timestamp: dt.datetime | None = None) -> tuple:
    """The values of `ENTRY_COLUMNS` for `entry`; `timestamp`, when given, is the entry's own
    (callers writing many entries of one moment make the datetime once)."""
    return (
        entry.id,
        SCHEMA_VERSION,
        entry.timestamp if timestamp is None else timestamp,
        entry.actor,
        entry.action,
        entry.entity,
        _json(entry.key),
        entry.path,
        _json(entry.before),
        _json(entry.after),
        entry.tenant,
        _json(entry.stored_extra),
    )


def entry_to_row(entry: ChangeLogEntry, with_sequence: bool = False) -> dict[str, Any]:
    """The column values for `entry` by name; the database assigns `sequence` unless asked to keep it."""
    row = dict(zip(ENTRY_COLUMNS, entry_values(entry), strict=True))
    if with_sequence and entry.sequence is not None:
        row["sequence"] = entry.sequence
    return row


def row_to_entry(row: Mapping[str, Any]) -> ChangeLogEntry:
    """The entry a stored row holds (MariaDB and SQLite return naive UTC datetimes)."""
    timestamp = row["timestamp"]
    if isinstance(timestamp, dt.datetime) and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
    return ChangeLogEntry(
        row["action"],
        entity=row["entity"],
        key=loads(row["key"]),
        path=row["path"],
        before=loads(row["before"]),
        after=loads(row["after"]),
        actor=row["actor"],
        tenant=row["tenant"],
        sequence=row["sequence"],
        timestamp=timestamp,
        id=row["id"],
        extra=loads(row["extra"]),
    )


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)
