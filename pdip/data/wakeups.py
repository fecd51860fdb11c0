"""How a reader that follows the outbox waits for new entries without asking all the time.

    wakeup = wakeup_for(engine, table, idle=1.0)
    wakeup.wait(found=True)      # returns when entries may have come (or `idle` passed)
    wakeup.close()

On PostgreSQL (psycopg 3) the reader `LISTEN`s on the channel the change-log table's trigger
notifies from each writer's transaction (`pdip.tracking.table.wake_trigger_sql`): a commit wakes
it at once, and `idle` is only the fallback. A table made without the trigger (by an older pdip,
or by hand) is given it; where the reader may not add it, it says so and polls. Elsewhere it
polls: quickly while entries keep coming, then less and less often up to `idle` once they stop,
so a busy stream is relayed within milliseconds and a quiet one costs a query per `idle`.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Protocol

import sqlalchemy as sa

from pdip.tracking.table import WAKE_TRIGGER, wake_trigger_sql

LOGGER = logging.getLogger(__name__)
QUICK = 0.01  # seconds: the first wait after a read that found entries


class Wakeup(Protocol):
    def wait(self, found: bool) -> None: ...

    def close(self) -> None: ...


class Polling:
    """Waits `QUICK` after a read that found entries, twice as long after each that found
    none, and never longer than `idle`."""

    def __init__(self, idle: float):
        self.idle = idle
        self.interval = min(QUICK, idle)

    def wait(self, found: bool) -> None:
        self.interval = min(QUICK, self.idle) if found else min(self.interval * 2, self.idle)
        time.sleep(self.interval)

    def close(self) -> None:
        pass


class Notifications:
    """Waits for a notification on `channel` over its own autocommit connection, `idle`
    seconds at most; the ones that piled up meanwhile are taken with it (the read that follows
    sees everything they announce)."""

    def __init__(self, connection: Any, idle: float):
        self.connection = connection
        self.idle = idle

    def wait(self, found: bool) -> None:
        collections.deque(self.connection.notifies(timeout=self.idle, stop_after=1), maxlen=0)
        collections.deque(self.connection.notifies(timeout=0), maxlen=0)  # taken, not looked at

    def close(self) -> None:
        self.connection.close()


def wakeup_for(engine: sa.Engine, table: sa.Table, idle: float) -> Wakeup:
    if engine.dialect.name != "postgresql":
        return Polling(idle)
    if engine.dialect.driver != "psycopg":
        LOGGER.info(
            "outbox %s: the %s driver cannot wait for notifications; new entries are polled every %g s when idle",
            table.name,
            engine.dialect.driver,
            idle,
        )
        return Polling(idle)
    try:
        _ensure_trigger(engine, table)
    except sa.exc.DBAPIError as error:
        LOGGER.warning(
            "outbox %s: no wake-up trigger on %s, and this connection may not add it (%s); new entries are "
            "polled every %g s when idle. Create the table with pdip, or run the statements of "
            "pdip.tracking.table.wake_trigger_sql as its owner.",
            table.name,
            table.name,
            str(error.orig).strip().splitlines()[0],
            idle,
        )
        return Polling(idle)
    raw = engine.raw_connection()
    connection = raw.driver_connection
    raw.detach()  # its own connection for good: LISTEN belongs to a session
    connection.autocommit = True
    connection.execute(f"LISTEN {engine.dialect.identifier_preparer.quote_identifier(table.name)}")
    return Notifications(connection, idle)


def _ensure_trigger(engine: sa.Engine, table: sa.Table) -> None:
    qualified = f"{table.schema}.{table.name}" if table.schema else table.name
    with engine.begin() as connection:
        present = connection.execute(
            sa.text("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND tgname = :name"),
            {"table": qualified, "name": WAKE_TRIGGER},
        ).first()
        if present is None:
            LOGGER.info("outbox %s: adding its wake-up trigger %s", table.name, WAKE_TRIGGER)
            for statement in wake_trigger_sql(table, connection.dialect.identifier_preparer):
                connection.exec_driver_sql(statement)
