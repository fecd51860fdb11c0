"""How a reader that follows the outbox waits for new entries without asking all the time.

    wakeup = wakeup_for(engine, table, idle=1.0)
    wakeup.wait(found=True)      # returns when entries may have come (or `idle` passed)
    wakeup.close()

On PostgreSQL (psycopg 3) the reader `LISTEN`s on the channel the change-log table's trigger
notifies from a writer's transaction (`pdip.tracking.table.wake_trigger_sql`), and the trigger
notifies only while a reader waits: a notifying transaction holds a database-wide lock through
its commit, so notifying on every write would make concurrent writers commit one at a time.

The handshake, with advisory locks keyed by the table (`wake_lock_keys`): a writer's trigger
takes every wake slot shared until its transaction ends, and notifies when it finds one held
exclusively. A reader about to wait takes one slot exclusively (which it gets only when no
writer is between its insert and its end), reads once more, and then waits for a notification,
letting the slot go when it wakes. So an entry committed before the slot was taken is found by
the read, and a writer after it notifies. When no slot can be had, a writer is about to commit:
the reader waits briefly and reads again, as polling does. A busy stream therefore costs no
notifications at all, and a quiet one wakes its reader at the commit, with `idle` only as the
fallback. A table made without the current trigger (by an older pdip, or by hand) is given it;
where the reader may not add it, it says so and polls (or waits on the older trigger, which
notifies on every write).

Elsewhere it polls: quickly while entries keep coming, then less and less often up to `idle`
once they stop, so a busy stream is relayed within milliseconds and a quiet one costs a query
per `idle`.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Protocol

import sqlalchemy as sa

from pdip.tracking.table import WAKE_FUNCTION_BODY, WAKE_TRIGGER, wake_lock_keys, wake_trigger_sql

LOGGER = logging.getLogger(__name__)
QUICK = 0.01  # seconds: the first wait after a read that found entries
BUSY = 0.1  # seconds: the longest wait while a writer holds the wake slots (it is about to commit)


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
        time.sleep(self.next(found))

    def next(self, found: bool) -> float:
        """The wait after a read that `found` entries or not."""
        self.interval = min(QUICK, self.idle) if found else min(self.interval * 2, self.idle)
        return self.interval

    def close(self) -> None:
        pass


class Notifications:
    """Waits for a notification over its own autocommit connection (which `LISTEN`s on the
    table's channel), holding a wake slot meanwhile so that writers notify (see the module's
    docstring); the notifications that piled up are taken with the one it waited for (the read
    that follows sees everything they announce)."""

    def __init__(self, connection: Any, idle: float, slots: list[tuple[int, int]]):
        self.connection = connection
        self.idle = idle
        self.slots = slots
        self.held: tuple[int, int] | None = None
        self.polling = Polling(idle)  # the pace while no slot can be had
        # Every slot tried in one round trip: CASE tries them in order and stops at the first it
        # gets. A busy stream asks this after nearly every read (writers hold the slots then).
        tries = " ".join(f"WHEN pg_try_advisory_lock({int(a)}, {int(b)}) THEN {i}" for i, (a, b) in enumerate(slots))
        self._take_any = f"SELECT CASE {tries} END"

    def wait(self, found: bool) -> None:
        if self.held is not None:
            if not found:  # the read after taking the slot found nothing: wait for a writer
                self._notified(self.idle)
            self._execute("SELECT pg_advisory_unlock(%s, %s)", self.held)
            self.held = None
            return
        self.held = self._take_slot()
        if self.held is None:  # a writer is between its insert and its end, or other readers hold every slot
            self._notified(min(self.polling.next(found), BUSY))
        # with a slot: back to the caller at once, for the read that closes the handshake

    def _take_slot(self) -> tuple[int, int] | None:
        taken = self.connection.execute(self._take_any).fetchone()[0]
        return None if taken is None else self.slots[taken]

    def _execute(self, query: str, slot: tuple[int, int]) -> bool:
        return self.connection.execute(query, slot).fetchone()[0]

    def _notified(self, timeout: float) -> None:
        collections.deque(self.connection.notifies(timeout=timeout, stop_after=1), maxlen=0)
        collections.deque(self.connection.notifies(timeout=0), maxlen=0)  # taken, not looked at

    def close(self) -> None:
        self.connection.close()  # and with it any slot it holds


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
        oid = _ensure_trigger(engine, table)
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
    return Notifications(connection, idle, wake_lock_keys(oid))


def _ensure_trigger(engine: sa.Engine, table: sa.Table) -> int:
    """Gives `table` the current wake-up trigger unless it has it; the table's oid. A trigger of
    an older pdip that this connection may not replace is kept: it notifies on every write,
    which wakes a waiting reader as well."""
    qualified = f"{table.schema}.{table.name}" if table.schema else table.name
    with engine.begin() as connection:
        oid = connection.execute(sa.text("SELECT to_regclass(:table)::oid::integer"), {"table": qualified}).scalar()
        body = connection.execute(
            sa.text(
                "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = to_regclass(:table) AND t.tgname = :name"
            ),
            {"table": qualified, "name": WAKE_TRIGGER},
        ).scalar()
    if body == WAKE_FUNCTION_BODY:
        return oid
    try:
        with engine.begin() as connection:
            LOGGER.info(
                "outbox %s: %s its wake-up trigger %s",
                table.name,
                "adding" if body is None else "renewing",
                WAKE_TRIGGER,
            )
            for statement in wake_trigger_sql(table, connection.dialect.identifier_preparer):
                connection.exec_driver_sql(statement)
    except sa.exc.DBAPIError as error:
        if body is None:
            raise
        LOGGER.info(
            "outbox %s: keeps the wake-up trigger of an earlier pdip, which notifies on every write (%s)",
            table.name,
            str(error.orig).strip().splitlines()[0],
        )
    return oid
