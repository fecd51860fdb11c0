"""Which errors of the SQL drivers pass: a later attempt, on a new connection, may not meet them.

    PostgreSQL (psycopg 3)   a connection lost or refused (no SQLSTATE, or class 08), a
                             serialization failure (40001), a deadlock (40P01), the server
                             shutting down or starting (57P01-57P03), too many connections
                             (53300), a lock not available (55P03)
    MariaDB/MySQL (PyMySQL)  deadlock (1213), lock wait timeout (1205), too many connections
                             (1040), server shutdown (1053), connection killed (1927), server
                             gone away or connection lost (2006, 2013), cannot connect (2003),
                             disconnected by the server (4031)
    SQLite                   the database is locked or busy (another writer holds it; Python 3.11+)
    any                      a connection SQLAlchemy found dead and invalidated; a pool timeout

A constraint violation, a bad value, a missing table or column, a syntax error is none of these:
the same statement would fail again. Drivers are recognised by their exception classes, imported
only when installed. The SQL sources and targets answer `transient` with `passes` (docs/adr/0029).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

POSTGRES_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03"})
MYSQL_CODES = frozenset({1040, 1053, 1205, 1213, 1927, 2003, 2006, 2013, 4031})
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


def passes(error: BaseException) -> bool:
    """Whether `error` (a SQLAlchemy error or the driver's own) is a passing failure."""
    if isinstance(error, sa.exc.TimeoutError):  # no connection free in the pool in time
        return True
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    return _postgres(error) or _mysql(error) or _sqlite(error)


def _postgres(error: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - only without the PostgreSQL driver
        return False
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is None:  # no answer from the server: the connection failed or was lost
        return isinstance(error, psycopg.OperationalError)
    return state.startswith("08") or state in POSTGRES_STATES


def _mysql(error: BaseException) -> bool:
    try:
        import pymysql
    except ImportError:  # pragma: no cover - only without the MariaDB/MySQL driver
        return False
    if not isinstance(error, pymysql.err.MySQLError) or not error.args:
        return False
    return error.args[0] in MYSQL_CODES


def _sqlite(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and getattr(error, "sqlite_errorname", "") in _SQLITE_BUSY
