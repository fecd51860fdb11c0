"""PostgreSQL's own log as a change source: logical replication through `pgoutput`.

    source: {kind: postgresql, url: ..., capture: logical, slot: pdip_accounts,
             publication: pdip_accounts, tables: [accounts, orders], create: true}

On its first run the source creates the publication (`FOR TABLE` the `tables`) and the
replication slot when `create` is true, and copies the tables' rows as `insert` entries from the
snapshot the slot exported when it was made: those rows are the database exactly as it was at
the slot's start, so the stream that follows begins where the copy ends, nothing missing and
nothing twice. Then it streams every committed transaction as entries: `insert` (`after`: the
row), `update` (`after`: the new row; `before`: the old one under `REPLICA IDENTITY FULL`, the
key otherwise), `delete` (`before`), and `clear` for a `TRUNCATE` (the whole table emptied).
The entry's `entity` is the table (`schema.table` outside `public`), its `key` the primary key's
value (a list for several columns), its time the commit's.

Positions. A batch ends at a transaction's commit and its position is `{"lsn": n}`, the LSN just
past that commit (a batch of the initial copy says which table and key it reached as well). The
slot is told a position (`confirmed_flush_lsn`) only once the target has made it durable
(`acknowledge`), never before: a capture killed at any moment starts again from the target's
position (a SQL target stores it with the rows) or from the checkpoint, and the server still holds
everything after it. A copy that was interrupted continues after the last key it copied, in a
new snapshot, and the stream then starts at the slot's start: the changes the second snapshot
already holds are applied again, which leaves the rows as they were (whole row images, upserts
and deletes by key), docs/adr/0030.

Values are read with psycopg's own loaders for each column's type (numeric as Decimal,
timestamptz as an aware datetime, uuid, json as Python values, arrays as lists), the same a query
of the table returns. The replication connection is psycopg2's (`pip install 'pdip[capture]'`):
psycopg 3 has no replication protocol.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql.capture import CapturedTable, CaptureError, CaptureSource, quoted_table
from pdip.integrator.adapters.sql.pgoutput import PgOutputDecoder, Relation, lsn_of
from pdip.integrator.batch import Batch
from pdip.integrator.changes import entries_batch
from pdip.tracking.entry import ChangeLogEntry, record_entry

LOGGER = logging.getLogger("pdip.integrator.capture")
IDLE_WAIT = 0.2  # seconds a bounded read waits for the server's word before it asks again
FOLLOW_WAIT = 1.0  # seconds a followed read waits for news before it looks again
# seconds between a followed read's keepalives when idle (psycopg2's own `consume_stream` default);
# the server drops a replication connection silent for `wal_sender_timeout` (60 s by default)
FOLLOW_FEEDBACK = 10.0
# messages read in one go under the connection's lock (taken once a message cost a sixth of
# the decoding); a confirmation from the writer waits for them at most (about a millisecond)
READ_RUN = 1000


class PostgresCaptureSource(CaptureSource):
    dialect = "postgresql"
    reads = "PostgreSQL's log"

    def read_settings(self, settings: dict[str, Any]) -> None:
        self.slot = _identifier(self._label(), "slot", settings.get("slot"))
        self.publication = _identifier(self._label(), "publication", settings.get("publication"))
        tables = settings.get("tables") or []
        self.tables = [tables] if isinstance(tables, str) else list(tables)
        self.create = bool(settings.get("create", False))
        self.snapshot = bool(settings.get("snapshot", True))
        self.max_slot_wal = str(settings.get("max_slot_wal") or "1GB")
        self._replication = None  # psycopg2's connection and cursor, opened by `read`
        self._cursor = None
        self._confirmed = 0
        self._keys: dict[int, list[str]] = {}
        self._loading = None
        # the replication connection is read by one thread and confirmed from another (the
        # writer's, `reads_in_thread`): psycopg2's cursor is not to be used by two at once
        self._talking = threading.Lock()
        self._stopping = threading.Event()  # `stop_waiting`: the batches are no longer wanted
        self._wake: tuple[socket.socket, socket.socket] | None = None  # wakes the read's `select`

    # -- checks, before any data moves --

    def check(self) -> None:
        """Refuse what cannot be captured, naming the setting and the fix."""
        label = self._label()
        with self.engine.connect() as db:
            level = db.exec_driver_sql("SHOW wal_level").scalar()
            if level != "logical":
                raise CaptureError(
                    f"{label}: capture: logical needs the server's wal_level = logical (it is {level!r}); "
                    "run ALTER SYSTEM SET wal_level = logical and restart PostgreSQL"
                )
            published = db.execute(
                sa.text("SELECT 1 FROM pg_publication WHERE pubname = :name"), {"name": self.publication}
            ).first()
            if published is None and not self.create:
                raise CaptureError(
                    f"{label}: publication: {self.publication!r} does not exist; create it "
                    f"(CREATE PUBLICATION {self.publication} FOR TABLE ...) or set create: true and tables"
                )
            if published is None and not self.tables:
                raise CaptureError(f"{label}: tables: name the tables to publish in {self.publication!r}")
            for table in self.tables or self._published(db):
                self._check_table(db, table)
            slot = db.execute(
                sa.text(
                    "SELECT plugin, active_pid FROM pg_replication_slots WHERE slot_name = :name AND database = "
                    "current_database()"
                ),
                {"name": self.slot},
            ).first()
        if slot is None and not self.create:
            raise CaptureError(f"{label}: slot: replication slot {self.slot!r} does not exist; set create: true")
        if slot is not None and slot.plugin != "pgoutput":
            raise CaptureError(f"{label}: slot: {self.slot!r} decodes with {slot.plugin!r}; pdip reads pgoutput")
        if slot is not None and slot.active_pid is not None:
            raise CaptureError(
                f"{label}: slot: {self.slot!r} is in use by server process {slot.active_pid}; stop that "
                "consumer first, or give this capture a slot of its own"
            )

    def _published(self, db: sa.Connection) -> list[str]:
        rows = db.execute(
            sa.text("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = :name"),
            {"name": self.publication},
        )
        return [name if schema == "public" else f"{schema}.{name}" for schema, name in rows]

    def _check_table(self, db: sa.Connection, table: str) -> None:
        found = db.execute(
            sa.text(
                "SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) "
                "FROM pg_class c WHERE c.oid = to_regclass(:name)"
            ),
            {"name": table},
        ).first()
        if found is None:
            raise CaptureError(f"{self._label()}: tables: table {table!r} does not exist")
        identity, primary = found
        if not primary or identity == "n":
            raise CaptureError(
                f"{self._label()}: tables: table {table!r} has no primary key (or REPLICA IDENTITY NOTHING), so "
                f"its updates and deletes cannot be keyed; add a primary key to {table!r}"
            )

    # -- reading --

    def reads_in_thread(self, request: ReadRequest) -> bool:
        """Yes: decoding a change costs less than pickling its entry and the writer unpickling it
        (docs/adr/0030, addendum), and the reading waits on the server while the writer waits on
        the target."""
        return True

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        resume = request.resume or {}
        with self.engine.connect() as db:
            if self.create:
                self._create_publication(db)
            exists = self._slot_exists(db)
            target = _current_lsn(db)
            self._warn_of_wal(db)
        self._open_replication()
        start = int(resume.get("lsn") or 0)
        copying = resume.get("snapshot")
        if not exists:
            if resume.get("lsn"):
                raise CaptureError(
                    f"{self._label()}: slot: {self.slot!r} is gone, so the changes after the stored position are "
                    "lost; start the replica over (a run without the stored positions), or restore the slot"
                )
            start, snapshot_name = self._create_slot()
            copying = {"table": None, "after": None} if self.snapshot else None
            if copying is not None:
                yield from self._copy(request, start, copying, snapshot_name)
        elif copying is not None:
            yield from self._copy(request, start, copying, None)
        yield from self._stream(request, start, max(target, start))

    def _create_publication(self, db: sa.Connection) -> None:
        found = db.execute(sa.text("SELECT 1 FROM pg_publication WHERE pubname = :name"), {"name": self.publication})
        if found.first() is None:
            quote = db.dialect.identifier_preparer.quote
            tables = ", ".join(quoted_table(quote, table) for table in self.tables)
            db.exec_driver_sql(f"CREATE PUBLICATION {quote(self.publication)} FOR TABLE {tables}")
            db.commit()

    def _slot_exists(self, db: sa.Connection) -> bool:
        query = sa.text("SELECT 1 FROM pg_replication_slots WHERE slot_name = :name")
        return db.execute(query, {"name": self.slot}).first() is not None

    def _warn_of_wal(self, db: sa.Connection) -> None:
        """A warning when the slot holds back more WAL than `max_slot_wal`: a capture that stopped
        for good keeps the server from recycling its log until the slot is dropped."""
        held, limit = db.execute(
            sa.text(
                "SELECT pg_current_wal_lsn() - restart_lsn, pg_size_bytes(:limit) FROM pg_replication_slots "
                "WHERE slot_name = :name"
            ),
            {"name": self.slot, "limit": self.max_slot_wal},
        ).first() or (None, None)
        if held is not None and held > limit:
            LOGGER.warning(
                "%s: slot %r holds %s of WAL (max_slot_wal: %s); drop it with `pdip capture drop-slot` if it "
                "is no longer read",
                self._label(),
                self.slot,
                _size(int(held)),
                self.max_slot_wal,
            )

    def _open_replication(self) -> None:
        import psycopg2  # the capture extra: only a capture imports it
        import psycopg2.extras

        url = self.engine.url.set(drivername="postgresql")
        self._replication = psycopg2.connect(
            url.render_as_string(hide_password=False), connection_factory=psycopg2.extras.LogicalReplicationConnection
        )
        self._cursor = self._replication.cursor()

    def _create_slot(self) -> tuple[int, str]:
        """The slot, made now; its start LSN and the name of the snapshot it exported (valid
        until the replication connection runs its next command)."""
        self._cursor.execute(f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT')
        _, consistent, snapshot, _ = self._cursor.fetchone()
        return lsn_of(consistent), snapshot

    def _copy(self, request: ReadRequest, start: int, copying: dict, snapshot: str | None) -> Iterator[Batch]:
        """The tables' rows as inserts, in key order, from the slot's exported `snapshot` (or, to
        finish an interrupted copy, a snapshot of now, after the last key copied)."""
        with self.engine.connect() as db:
            db.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot is not None:
                db.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield from self.copied(db, request, self.tables or self._published(db), copying, {"lsn": start})

    def captured_table(self, db: sa.Connection, name: str) -> CapturedTable:
        return CapturedTable(name, _primary_key(db, name))

    def _stream(self, request: ReadRequest, start: int, target: int) -> Iterator[Batch]:
        """Every transaction committed after `start`, in batches that end at a commit; a
        bounded read stops once it has everything committed before it began (`target`)."""
        self._confirmed = start
        self._cursor.start_replication(
            slot_name=self.slot,
            decode=False,
            start_lsn=start,
            options={"proto_version": "1", "publication_names": self.publication},
        )
        decoder = PgOutputDecoder(self._loader(), make=self._entry)
        entries: list[ChangeLogEntry] = []
        position = start
        cursor, talking = self._cursor, self._talking
        self._wake = self._wake or socket.socketpair()
        waiting_for = [cursor, self._wake[0]]
        asked = 0.0
        while True:
            with talking:
                payloads = _arrived(cursor)
            if payloads:
                for payload in payloads:
                    commit = decoder.feed(payload)
                    if commit is not None and commit.end_lsn > start:  # (the server skips those at or below)
                        entries.extend(commit.changes)
                        position = commit.end_lsn
                        if len(entries) >= request.batch_size:
                            yield self.lagging(entries_batch(entries, position={"lsn": position}))
                            entries = []
                continue
            if entries:
                yield self.lagging(entries_batch(entries, position={"lsn": position}))
                entries = []
                continue
            if not request.follow and max(position, cursor.wal_end) >= target and not decoder.in_transaction:
                return
            if self._stopping.is_set():
                return
            # A bounded read asks how far the server's log is read (its answer wakes the `select`);
            # a followed one only says it is alive now and then: asking on every wait had the
            # answer wake it at once, a loop of round trips that kept a third of a core busy idle.
            now = time.monotonic()
            if not request.follow or now - asked >= FOLLOW_FEEDBACK:
                with talking:
                    cursor.send_feedback(reply=True)
                asked = now
            select.select(waiting_for, [], [], IDLE_WAIT if not request.follow else FOLLOW_WAIT)

    def log_end(self, db: sa.Connection) -> int:
        return _current_lsn(db)

    def behind(self, end: int, position: dict) -> int:
        """Bytes of WAL past the batch: what the slot still holds once the batch is confirmed."""
        return max(0, end - position["lsn"])

    def _loader(self):
        """psycopg's text loader for a type, by its OID."""
        import psycopg
        from psycopg.adapt import Transformer

        raw = self.engine.raw_connection()
        self._loading = raw  # kept open: the loaders read the session's time zone
        transformer = Transformer(raw.driver_connection)

        def load(oid: int):
            return transformer.get_loader(oid, psycopg.pq.Format.TEXT).load

        return load

    def _entry(self, action: str, relation: Relation, new: dict | None, old: dict | None, seconds: float):
        """The entry of one change, made as the decoder reads it (every change comes through here)."""
        if action == "truncate":
            return ChangeLogEntry("clear", entity=relation.qualified, timestamp=seconds)
        columns = relation.key if relation.key is not None else self._key_columns(relation)
        row = new if new is not None else old
        key = row.get(columns[0]) if len(columns) == 1 else [row.get(column) for column in columns]
        return record_entry(action, relation.qualified, key, old, new, seconds)

    def _key_columns(self, relation: Relation) -> list[str]:
        """The table's primary key (asked once per table, kept on the relation): under REPLICA
        IDENTITY FULL the server marks every column as identity, which is no key to apply by."""
        columns = self._keys.get(relation.oid)
        if columns is None:
            with self.engine.connect() as db:
                columns = self._keys[relation.oid] = _primary_key(db, f'"{relation.schema}"."{relation.name}"')
        relation.key = columns
        return columns

    def acknowledge(self, position: Any) -> None:
        """The target holds everything up to `position`: the slot may let it go."""
        lsn = position.get("lsn") if isinstance(position, dict) and "snapshot" not in position else None
        with self._talking:
            if lsn and lsn > self._confirmed and self._cursor is not None:
                self._confirmed = lsn
                self._cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)

    def describe(self) -> str:
        return f"postgresql:{self.publication} (capture, slot {self.slot})"

    def stop_waiting(self) -> None:
        """The batches are no longer wanted (Ctrl-C): a followed read waiting for news wakes now
        and ends, instead of when its connection is closed."""
        self._stopping.set()
        if self._wake is not None:
            self._wake[1].send(b"\0")

    def close(self) -> None:
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None
        with self._talking:
            if self._replication is not None:
                self._replication.close()
                self._replication = self._cursor = None
        if self._loading is not None:
            self._loading.close()
            self._loading = None
        self.engine.dispose()


def _arrived(cursor: Any, most: int = READ_RUN) -> list[bytes]:
    """The payloads of the messages the replication connection holds now, up to `most`, read
    without waiting (psycopg2's `read_message` returns None once it has nothing at hand)."""
    payloads = []
    read = cursor.read_message
    for _ in range(most):
        message = read()
        if message is None:
            break
        payloads.append(message.payload)
    return payloads


def _primary_key(db: sa.Connection, table: str) -> list[str]:
    rows = db.execute(
        sa.text(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = to_regclass(:name) AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)"
        ),
        {"name": table},
    )
    return [name for (name,) in rows]


def _current_lsn(db: sa.Connection) -> int:
    """Where the log ends now: the end of its last record (the flush position may lie past it,
    at the end of a page, where decoding never arrives)."""
    return int(db.exec_driver_sql("SELECT pg_current_wal_insert_lsn() - '0/0'").scalar())


def _identifier(label: str, setting: str, value: Any) -> str:
    if not value:
        raise CaptureError(f"{label}: {setting}: required with capture: logical (a name of your choosing)")
    text = str(value)
    if not text.replace("_", "").isalnum() or not text.isascii() or text.lower() != text:
        raise CaptureError(f"{label}: {setting}: {text!r} must be lower-case letters, digits and underscores")
    return text


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def drop_slot(engine: sa.Engine, slot: str) -> bool:
    """Drop a replication slot (`pdip capture drop-slot`); False when there is none."""
    with engine.begin() as db:
        found = db.execute(sa.text("SELECT 1 FROM pg_replication_slots WHERE slot_name = :name"), {"name": slot})
        if found.first() is None:
            return False
        db.execute(sa.text("SELECT pg_drop_replication_slot(:name)"), {"name": slot})
    return True
