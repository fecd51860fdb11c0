"""MariaDB's own log as a change source: the row-based binlog, read as a replica reads it.

    source: {kind: mysql, url: mysql+pymysql://capture@db/shop, capture: binlog, tables: [accounts, orders]}

On its first run the source copies the tables' rows as `insert` entries inside a transaction
started `WITH CONSISTENT SNAPSHOT`, whose binlog position MariaDB names (`Binlog_snapshot_file`,
`Binlog_snapshot_position`) without locking anything: the rows are the database exactly at that
position, so the stream that follows starts where the copy ends, nothing missing and nothing
twice. Then it streams every committed transaction of those tables (in the connection's
database) as entries: `insert` (`after`: the row), `update` (`before`: the old row, `after`: the
new one, both whole under `binlog_row_image = FULL`), `delete` (`before`), and `clear` for a
`TRUNCATE`. The entry's `entity` is the table, its `key` the primary key's value (a list for
several columns), its time the event's.

Positions. A batch ends at a transaction's commit and its position is `{"file": f, "pos": n}`,
the binlog file and the offset just past that commit (a batch of the initial copy says which
table and key it reached as well). The server keeps its binlog whatever a reader has read, so
nothing is confirmed to it: the target stores the position with its rows (a SQL target) or the
checkpoint does, and a run starts right after it. A copy that was interrupted continues after the
last key it copied in a snapshot of now, and the stream then starts at the first snapshot's
position: the changes the second snapshot already holds are applied again, which leaves the rows
as they were (whole row images, upserts and deletes by key), docs/adr/0033.

Values are what a query of the table returns: DECIMAL as Decimal, DATETIME as a naive datetime,
TIMESTAMP as an aware datetime in UTC (the binlog holds it as UTC seconds; the copy reads it in a
UTC session), JSON as its text (MariaDB's JSON is LONGTEXT checked by `json_valid`; a query
returns the text, and a MariaDB replica's column takes it as it is), BLOB as bytes. The binlog
protocol is python-mysql-replication's (`pip install 'pdip[capture]'`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.capture import CapturedTable, CaptureError, CaptureSource
from pdip.integrator.batch import Batch
from pdip.integrator.changes import entries_batch
from pdip.tracking.entry import ChangeLogEntry

LOGGER = logging.getLogger("pdip.integrator.capture")
IDLE_WAIT = 0.3  # seconds: a following read's heartbeat, after which what it holds goes out
SERVER_IDS = (1 << 24, 1 << 31)  # a replica's id of its own, chosen at random unless `server_id` says
BINLOG_PURGED = 1236  # the server's error for a binlog file or position it no longer has
ACCESS_DENIED = 1227  # the server's error for a statement that needs a privilege the user lacks
TRUNCATE = re.compile(r"\s*TRUNCATE\s+(?:TABLE\s+)?(?:`?(\w+)`?\.)?`?(\w+)`?\s*$", re.IGNORECASE)
NEEDED = {  # server variable: (the value a capture needs, how to set it)
    "log_bin": ("ON", "start the server with --log-bin (log_bin cannot be set at runtime)"),
    "binlog_format": ("ROW", "SET GLOBAL binlog_format = ROW, and in the server's configuration"),
    "binlog_row_image": ("FULL", "SET GLOBAL binlog_row_image = FULL, and in the server's configuration"),
    "binlog_row_metadata": ("FULL", "SET GLOBAL binlog_row_metadata = FULL, and in the server's configuration"),
}


class _Table(CapturedTable):
    """What the capture knows of one table: its key and the columns whose values it converts."""

    def __init__(self, name: str, key: list[str], timestamps: set[str], binary: set[str]):
        super().__init__(name, key)
        self.timestamps, self.binary = timestamps, binary

    def values(self, row: dict[str, Any]) -> dict[str, Any]:
        for column in self.timestamps:
            value = row.get(column)
            if isinstance(value, dt.datetime):
                row[column] = value.replace(tzinfo=dt.timezone.utc)
        for column in self.binary:  # the binlog reader gives an empty binary value as ""
            if row.get(column) == "":
                row[column] = b""
        return row


class BinlogCaptureSource(CaptureSource):
    dialect = "mysql"
    reads = "MariaDB's binlog"

    def read_settings(self, settings: dict[str, Any]) -> None:
        tables = settings.get("tables") or []
        self.tables = [tables] if isinstance(tables, str) else list(tables)
        self.snapshot = bool(settings.get("snapshot", True))
        self.server_id = int(settings.get("server_id") or random.randrange(*SERVER_IDS))
        self._known: dict[str, _Table] = {}
        self._lag_refused = False  # the user may not list the binlog files: said once

    # -- checks, before any data moves --

    def check(self) -> None:
        """Refuse what cannot be captured, naming the setting and the fix."""
        label = self._label()
        if not self.tables:
            raise CaptureError(f"{label}: tables: name the tables to capture (capture: binlog)")
        with self.engine.connect() as db:
            for variable, (wanted, fix) in NEEDED.items():
                found = db.exec_driver_sql(f"SHOW GLOBAL VARIABLES LIKE '{variable}'").first()
                value = str(found[1]).upper() if found else "(not set)"
                if value != wanted:
                    raise CaptureError(
                        f"{label}: capture: binlog needs the server's {variable} = {wanted} (it is {value}); {fix}"
                    )
            grants = " ".join(str(row[0]).upper() for row in db.exec_driver_sql("SHOW GRANTS FOR CURRENT_USER()"))
            if not re.search(r"GRANT [^;]*(ALL PRIVILEGES|REPLICATION (SLAVE|REPLICA))[^;]* ON \*\.\* ", grants):
                user = db.exec_driver_sql("SELECT CURRENT_USER()").scalar()
                raise CaptureError(
                    f"{label}: url: the user {user} may not read the binlog; GRANT REPLICATION SLAVE ON *.* TO it"
                )
            snapshots = db.exec_driver_sql("SHOW STATUS LIKE 'binlog_snapshot_file'").first()
            if snapshots is None:  # pragma: no cover - MySQL (not run by the tests) names no snapshot position
                raise CaptureError(f"{label}: capture: binlog reads MariaDB's binlog (10.5 or later); this is MySQL")
            for table in self.tables:
                self.captured_table(db, table)

    def captured_table(self, db: sa.Connection, name: str) -> _Table:
        """The table's key and typed columns, asked once; a table without a primary key refused."""
        known = self._known.get(name)
        if known is not None:
            return known
        columns = db.execute(
            sa.text(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "DATABASE() AND TABLE_NAME = :name ORDER BY ORDINAL_POSITION"
            ),
            {"name": name},
        ).all()
        if not columns:
            raise CaptureError(f"{self._label()}: tables: table {name!r} does not exist")
        key = [column for column, _, role in columns if role == "PRI"]
        if not key:
            raise CaptureError(
                f"{self._label()}: tables: table {name!r} has no primary key, so its updates and deletes cannot "
                f"be keyed; add a primary key to {name!r}"
            )
        timestamps = {column for column, kind, _ in columns if kind == "timestamp"}
        binary = {column for column, kind, _ in columns if kind.endswith("blob") or kind.endswith("binary")}
        known = self._known[name] = _Table(name, key, timestamps, binary)
        return known

    # -- reading --

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        resume = request.resume or {}
        start = {"file": resume["file"], "pos": resume["pos"]} if resume.get("file") else None
        copying = resume.get("snapshot")
        if start is None:
            copying = {"table": None, "after": None} if self.snapshot else None
            if copying is None:
                with self.engine.connect() as db:
                    start = _position(db)
                yield entries_batch([], position=dict(start))  # kept: the next run continues from here
        if copying is not None:
            start = yield from self._copy(request, start, copying)
        yield from self._stream(request, start)

    def _copy(self, request: ReadRequest, start: dict | None, copying: dict) -> Iterator[Batch]:
        """The tables' rows as inserts, in key order, in a consistent snapshot; the binlog position
        of that snapshot is where the stream starts, unless an interrupted copy's `start` is kept."""
        with self.engine.connect() as db:
            db.exec_driver_sql("SET SESSION time_zone = '+00:00'")
            db.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            db.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            start = start or _position(db)
            yield from self.copied(db, request, self.tables, copying, start)
            db.rollback()
        return start

    def _stream(self, request: ReadRequest, start: dict) -> Iterator[Batch]:
        """Every transaction committed after `start`, in batches that end at a commit; a bounded
        read stops at the end the binlog had when it began."""
        from pymysql.err import OperationalError

        with self.engine.connect() as db:
            end = _position(db)
            database = db.exec_driver_sql("SELECT DATABASE()").scalar()
        reader = self._reader(start, request.follow)
        entries: list[ChangeLogEntry] = []
        pending: list[ChangeLogEntry] = []  # the transaction being read
        position = dict(start)
        try:
            for event in reader:
                kind = type(event).__name__
                if kind == "HeartbeatLogEvent":
                    if entries:
                        yield self.lagging(entries_batch(entries, position=position))
                        entries = []
                    continue
                if kind.endswith("RowsEvent"):
                    if event.schema == database:
                        pending.extend(self._entries(event))
                    continue
                if kind == "QueryEvent":  # (MariaDB starts a transaction with a GTID event, not a BEGIN)
                    pending.extend(self._cleared(event.query, event, database))
                entries.extend(pending)  # a commit: an XID, a COMMIT, or a statement that commits itself
                pending = []
                position = {"file": reader.log_file, "pos": reader.log_pos}
                if len(entries) >= request.batch_size:
                    yield self.lagging(entries_batch(entries, position=position))
                    entries = []
                if not request.follow and _place(position) >= _place(end):
                    break
        except OperationalError as error:
            if error.args[0] != BINLOG_PURGED:  # pragma: no cover - a lost server: transient, the retries' to take
                raise
            raise CaptureError(
                f"{self._label()}: the binlog no longer holds the stored position {start['file']}:{start['pos']} "
                f"({error.args[1]}); start the replica over (a run without the stored positions), or keep the "
                "binlog longer (binlog_expire_logs_seconds)"
            ) from None
        finally:
            reader.close()
        if entries:
            yield self.lagging(entries_batch(entries, position=position))

    def _reader(self, start: dict, follow: bool):
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import HeartbeatLogEvent, QueryEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        url = self.engine.url
        return BinLogStreamReader(
            connection_settings={
                "host": url.host or "127.0.0.1",
                "port": url.port or 3306,
                "user": url.username or "",
                "passwd": url.password or "",
            },
            server_id=self.server_id,
            resume_stream=True,
            log_file=start["file"],
            log_pos=int(start["pos"]),
            blocking=follow,
            slave_heartbeat=IDLE_WAIT if follow else None,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent, HeartbeatLogEvent],
            only_tables=self.tables,
            enable_logging=False,
        )

    def _entries(self, event) -> Iterator[ChangeLogEntry]:
        table = self._known[event.table]
        kind = type(event).__name__
        for row in event.rows:
            if kind == "WriteRowsEvent":
                after = table.values(row["values"])
                yield ChangeLogEntry(
                    "insert", entity=table.name, key=table.key_of(after), after=after, timestamp=event.timestamp
                )
            elif kind == "UpdateRowsEvent":
                before, after = table.values(row["before_values"]), table.values(row["after_values"])
                yield ChangeLogEntry(
                    "update",
                    entity=table.name,
                    key=table.key_of(after),
                    before=before,
                    after=after,
                    timestamp=event.timestamp,
                )
            else:
                before = table.values(row["values"])
                yield ChangeLogEntry(
                    "delete", entity=table.name, key=table.key_of(before), before=before, timestamp=event.timestamp
                )

    def _cleared(self, query: str, event, database: str) -> list[ChangeLogEntry]:
        """A `TRUNCATE` of a captured table, as a `clear` entry."""
        match = TRUNCATE.match(query)
        if match is None:
            return []
        schema, table = match.group(1) or event.schema.decode(), match.group(2)
        if schema != database or table not in self._known:
            return []
        return [ChangeLogEntry("clear", entity=table, timestamp=event.timestamp)]

    def log_end(self, db: sa.Connection) -> dict[str, int] | None:
        """The size of each binlog file the server keeps (the last one's: where the binlog ends);
        None when the user may not ask (`BINLOG MONITOR`), said once in the log."""
        try:
            return {str(row[0]): int(row[1]) for row in db.exec_driver_sql("SHOW BINARY LOGS")}
        except sa.exc.DBAPIError as error:
            if not _denied(error):  # pragma: no cover - a lost server: transient, the retries' to take
                raise
            if not self._lag_refused:
                self._lag_refused = True
                LOGGER.warning(
                    "%s: no lag is reported: the user may not list the binlog files; GRANT BINLOG MONITOR "
                    "ON *.* TO it (REPLICATION CLIENT before MariaDB 10.5)",
                    self._label(),
                )
            return None

    def behind(self, end: dict[str, int] | None, position: dict) -> int | None:
        """Bytes of binlog past the batch: the rest of its file and every later file."""
        if end is None:
            return None
        file, offset = position["file"], int(position["pos"])
        later = sum(size for name, size in end.items() if name > file)
        return max(0, later + end.get(file, offset) - offset)

    def describe(self) -> str:
        return f"mysql:{','.join(self.tables)} (capture, binlog)"

    def close(self) -> None:
        self.engine.dispose()


def _position(db: sa.Connection) -> dict:
    """The binlog position of the session's consistent snapshot, or, outside one, the binlog's end."""
    status = dict(
        db.exec_driver_sql(
            "SHOW STATUS WHERE Variable_name IN ('Binlog_snapshot_file', 'Binlog_snapshot_position')"
        ).all()
    )
    return {"file": status["Binlog_snapshot_file"], "pos": int(status["Binlog_snapshot_position"])}


def _denied(error: sa.exc.DBAPIError) -> bool:
    """The server's "access denied; you need (at least one of) the ... privilege" (1227)."""
    return bool(error.orig.args) and error.orig.args[0] == ACCESS_DENIED


def _place(position: dict) -> tuple[str, int]:
    return position["file"], int(position["pos"])
