"""`DatabaseSessionManager`: the engine and sessions of the configured database.

One per application (ISingleton). It builds the engine from the `DATABASE` section with pooling
that suits the backend: a static pool for in-memory SQLite (one shared connection), SQLAlchemy's
queue pool for PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL, recycled hourly because MySQL
drops idle connections), whose connections are pinged when they have been idle a while. Its
sessions stamp audit columns and write the outbox. On PostgreSQL a session that only reads
(outside a unit of work) reads in autocommit, through a pool of its own (`autocommit_engine`),
until it does anything else (`ReadFirstSession`).
The password comes from the configuration (plain, `${VAR}` or `enc:`) and is never logged: the
engine's URL renders it as `***`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, configure_mappers, sessionmaker
from sqlalchemy.pool import StaticPool

from pdip.configuration import Configuration, DatabaseConfig
from pdip.data.auditing import stamp_before_flush
from pdip.data.domain import EntityBase
from pdip.data.outbox import ChangeLogReader, Outbox
from pdip.dependency import ISingleton
from pdip.policy import Policy

_WRITES = "pdip_writes"  # an execution option: the session's transactions take SQLite's write lock
PING_AFTER_SECONDS = 1.0  # a pooled connection idle this long is pinged before it is handed out
_IDLE_SINCE = "pdip_idle_since"


class DatabaseSessionManager(ISingleton):
    def __init__(self, config: DatabaseConfig, configuration: Configuration, policy: Policy | None = None):
        self.config = config
        self.url = config.url(configuration.root_directory)
        self.engine = sa.create_engine(self.url, **_engine_options(self.url, config))
        self._writing = self.engine  # what a writing session is bound to
        if self.engine.dialect.name != "sqlite":
            _ping_when_idle(self.engine)
        if self.engine.dialect.name == "sqlite" and self.url.database not in (None, "", ":memory:"):
            _queue_sqlite_writers(self.engine)
            self._writing = self.engine.execution_options(**{_WRITES: True})
        # The application's policy chain (built-in secret rules, .pdip/policy.yml, POLICY.FILES)
        # runs over every change-log entry before it is written.
        self.outbox = Outbox((policy or Policy.default()).apply_entry)
        # PostgreSQL reads each statement's committed data (READ COMMITTED) in a transaction or
        # not, so a read-only session skips BEGIN and ROLLBACK; MariaDB's REPEATABLE READ keeps
        # one snapshot per transaction, and SQLite's reading sessions already do not queue.
        self.autocommit_engine: sa.Engine | None = None
        if self.engine.dialect.name == "postgresql":
            self.autocommit_engine = _autocommit_engine(self.url, config)
        self.sessions = sessionmaker(bind=self.engine, class_=ReadFirstSession, expire_on_commit=False)
        event.listen(self.sessions, "before_flush", stamp_before_flush)
        event.listen(self.sessions, "after_flush", self.outbox.after_flush)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, writes: bool = True) -> Session:
        """A new session (the caller closes it); repositories get theirs from RepositoryProvider.
        `writes=False`: it only reads, so on a SQLite file its transactions do not queue for the
        write lock (a unit of work's session writes; repositories outside one read)."""
        session = self.sessions(bind=self.bind(writes))
        if not writes:
            session.autocommit_reader = self.autocommit_engine
        return session

    def bind(self, writes: bool) -> sa.Engine:
        """The engine a session that `writes` (or only reads) is bound to."""
        return self._writing if writes else self.engine

    def warm(self, connections: int) -> None:
        """Open up to `connections` pooled connections (no more than the pool keeps) and configure
        the mappers now, so a server's first requests do not pay for them."""
        configure_mappers()
        with contextlib.ExitStack() as opened:
            for engine in self._engines():
                for _ in range(min(connections, self.config.pool_size)):
                    opened.enter_context(engine.connect())

    def create_all(self) -> None:
        """Create the tables of every imported entity, and the change-log table; existing ones are kept."""
        EntityBase.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        EntityBase.metadata.drop_all(self.engine)

    def change_log(self) -> ChangeLogReader:
        return ChangeLogReader(self.engine)

    def close(self) -> None:
        for engine in self._engines():
            engine.dispose()

    def _engines(self) -> list[sa.Engine]:
        return [self.engine] if self.autocommit_engine is None else [self.engine, self.autocommit_engine]

    def __repr__(self) -> str:
        return f"DatabaseSessionManager({self.url.render_as_string(hide_password=True)})"


class ReadFirstSession(Session):
    """A session that runs plain SELECTs through an autocommit connection (`autocommit_reader`,
    when set) until it does anything else: a flush, a statement that is not a plain SELECT
    (`FOR UPDATE`, DML, text), or a unit of work beginning (`stop_autocommit_reads`). From then
    on every statement runs in its transaction, as in any session, so what it writes is atomic
    and read back before the commit; the reads before it saw committed data, as they would have
    in a READ COMMITTED transaction."""

    autocommit_reader: sa.Engine | None = None

    def get_bind(self, mapper: Any = None, **kwargs: Any) -> Any:
        reader = self.autocommit_reader
        if reader is not None:
            clause = kwargs.get("clause")
            # a flush asks with no clause; `_for_update_arg` is how a Select keeps FOR UPDATE
            if isinstance(clause, sa.Select) and clause._for_update_arg is None:
                return reader
            self.autocommit_reader = None
        return super().get_bind(mapper, **kwargs)

    def stop_autocommit_reads(self) -> None:
        self.autocommit_reader = None


def _engine_options(url: sa.URL, config: DatabaseConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"echo": config.echo}
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            options["connect_args"] = {"timeout": config.busy_timeout}
        return options
    options.update(pool_size=config.pool_size, max_overflow=config.pool_size)
    if backend in ("mysql", "mariadb"):
        options["pool_recycle"] = 3600
    return options


def _autocommit_engine(url: sa.URL, config: DatabaseConfig) -> sa.Engine:
    """The engine of PostgreSQL's autocommit reads: a pool of its own, `DATABASE.POOL_SIZE` more
    connections. Switching a shared pool's connection to autocommit on each checkout and back on
    each return, and the rollback a pool sends on return, were a sixth of the Python calls of an
    API's GET of one row (1,279 -> 1,054). No transaction is ever open on these connections, so
    there is nothing to roll back when one is returned."""
    engine = sa.create_engine(
        url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **_engine_options(url, config)
    )
    _ping_when_idle(engine)
    return engine


def _queue_sqlite_writers(engine: sa.Engine) -> None:
    """Concurrent writers of one SQLite file wait their turn instead of failing.

    The driver's deferred transactions start as readers and fail at once with "database is
    locked" when two of them try to become the writer (SQLite cannot wait there without a
    deadlock), whatever the busy timeout. So a writing session's transactions begin IMMEDIATE,
    taking the write lock up front and waiting up to `DATABASE.BUSY_TIMEOUT` seconds for it;
    other transactions begin DEFERRED, and the WAL journal lets them read meanwhile."""

    @event.listens_for(engine, "connect")
    def _connected(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # the driver's own BEGIN is replaced by the one below
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITES) else "BEGIN")


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection that has been idle `PING_AFTER_SECONDS` before handing it out, and
    replace it if the server dropped it.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip to the server per request
    of an API, a quarter of a simple GET's. A connection checked in a moment ago was alive then;
    one idle longer (the server may have restarted, a proxy may have closed it) is pinged as
    before. A connection the server drops meanwhile fails its request, as with any pool, and
    SQLAlchemy then replaces every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # None: a new connection, just made
        if since is None or time.monotonic() - since < PING_AFTER_SECONDS:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise sa.exc.DisconnectionError(str(error)) from error  # the pool connects anew
            raise
