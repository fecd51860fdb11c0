"""PostgreSQL's logical replication messages (`pgoutput`, protocol version 1) read into changes.

    decoder = PgOutputDecoder(load=loader_for)      # load(type_oid) -> (bytes -> value)
    for payload in messages:
        commit = decoder.feed(payload)               # Commit(...) once a transaction is whole, else None

    PgOutputDecoder(load, make=entry_of)             # each change made by make(action, relation, new, old, seconds)

The server sends, per transaction, `Begin`, then a `Relation` message before the first change to
a table (and again after its columns changed), the changes (`Insert`, `Update`, `Delete`,
`Truncate`), then `Commit`. The decoder holds a transaction's changes until its `Commit` and
hands them over whole, with the commit's end LSN (the position a consumer confirms) and time, so
a consumer keeps transaction boundaries. A consumer that wants its own record of a change
(the capture source: a `ChangeLogEntry`) passes `make`, and the decoder builds that straight
away, with no `Change` in between (the commit time is known from `Begin`). Column values
arrive as text; `load` turns each into a Python value by the column's type (the capture source
uses psycopg's own loaders, so a captured value is what a query of the same column returns).

The format is in PostgreSQL's documentation, "Logical Replication Message Formats". Why it is
read here rather than by a package: the maintained replication clients (psycopg2) hand over the
raw bytes, and the PyPI readers of pgoutput are either unmaintained or new and native; the
format is small and stable, and reading it in one module keeps the values' types ours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

EPOCH_2000 = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_2000_SECONDS = EPOCH_2000.timestamp()

_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
_UINT32 = struct.Struct("!I")
_BEGIN = struct.Struct("!QqI")  # final LSN, commit time, xid
_COMMIT = struct.Struct("!BQQq")  # flags, commit LSN, end LSN, commit time


class ProtocolError(ValueError):
    """A message the decoder does not understand (a protocol version it does not read)."""


@dataclasses.dataclass
class Column:
    name: str
    type_oid: int
    in_key: bool  # part of the replica identity


@dataclasses.dataclass
class Relation:
    oid: int
    schema: str
    name: str
    identity: str  # d default (primary key), f full, i index, n nothing
    columns: list[Column]
    loaders: list[Callable[[bytes], Any]] = dataclasses.field(default_factory=list)
    key: list[str] | None = None  # the primary key's columns, when a consumer looked them up
    qualified: str = dataclasses.field(init=False)  # `name`, or `schema.name` outside `public`

    def __post_init__(self) -> None:
        self.qualified = self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclasses.dataclass
class Change:
    """One row change: `action` insert, update, delete or truncate; `old` the row before (the
    replica identity's columns, or all of them under REPLICA IDENTITY FULL; None when the server
    sent none), `new` the row after."""

    action: str
    relation: Relation
    new: dict[str, Any] | None = None
    old: dict[str, Any] | None = None


@dataclasses.dataclass
class Commit:
    """A whole transaction: its changes in order, its id, the LSN just past its commit record
    (what a consumer confirms once the changes are durable) and its commit time."""

    xid: int
    end_lsn: int
    time: dt.datetime
    changes: list[Any]  # what the decoder's `make` built of each change: `Change`s by default
    seconds: float = 0.0  # the commit time in seconds since 1970 (what an entry's timestamp holds)


def change(action: str, relation: Relation, new: dict | None, old: dict | None, seconds: float) -> Change:
    """What the decoder makes of a row change unless told otherwise: a `Change`."""
    return Change(action, relation, new=new, old=old)


class PgOutputDecoder:
    """Reads `pgoutput` messages one at a time; keeps the relations it was told of. `make` builds
    each change's record (`change` by default) from its action, relation, new and old rows and
    the commit time in seconds since 1970."""

    def __init__(self, load: Callable[[int], Callable[[bytes], Any]], make: Callable[..., Any] = change):
        self.load = load
        self.make = make
        self.relations: dict[int, Relation] = {}
        self._xid: int | None = None
        self._seconds = 0.0  # the commit time of the transaction being read (`Begin` says it)
        self._changes: list[Any] = []

    @property
    def in_transaction(self) -> bool:
        """Between a `Begin` and its `Commit`."""
        return self._xid is not None

    def feed(self, payload: bytes) -> Commit | None:
        """Decode one message; the transaction when `payload` is its commit, else None. Row
        changes, by far the most messages, are tested for first."""
        kind = payload[:1]
        if kind == b"I":
            relation = self._known(payload)
            new, _ = self._tuple(relation, payload, 6)  # after relation id and "N"
            self._changes.append(self.make("insert", relation, new, None, self._seconds))
        elif kind == b"U":
            relation = self._known(payload)
            old, offset = None, 5
            if payload[offset : offset + 1] in (b"K", b"O"):
                old, offset = self._old(relation, payload, offset)
            new, _ = self._tuple(relation, payload, offset + 1)  # after "N"
            self._changes.append(self.make("update", relation, new, old, self._seconds))
        elif kind == b"D":
            relation = self._known(payload)
            old, _ = self._old(relation, payload, 5)  # after the relation id
            self._changes.append(self.make("delete", relation, None, old, self._seconds))
        elif kind == b"B":
            _, time, self._xid = _BEGIN.unpack_from(payload, 1)
            self._seconds = EPOCH_2000_SECONDS + time / 1_000_000
            self._changes = []
        elif kind == b"C":
            _, _, end_lsn, time = _COMMIT.unpack_from(payload, 1)
            changes, self._changes = self._changes, []
            xid, self._xid = self._xid or 0, None
            return Commit(xid, end_lsn, moment(time), changes, EPOCH_2000_SECONDS + time / 1_000_000)
        elif kind == b"R":
            relation = self._relation(payload)
            self.relations[relation.oid] = relation
        elif kind == b"T":
            (count,) = _INT32.unpack_from(payload, 1)
            for index in range(count):
                (oid,) = _UINT32.unpack_from(payload, 6 + 4 * index)
                self._changes.append(self.make("truncate", self.relations[oid], None, None, self._seconds))
        elif kind not in (b"Y", b"O", b"M"):  # types, origins and messages carry no row
            raise ProtocolError(f"unknown pgoutput message {kind!r}")
        return None

    def _known(self, payload: bytes) -> Relation:
        (oid,) = _UINT32.unpack_from(payload, 1)
        return self.relations[oid]

    def _relation(self, payload: bytes) -> Relation:
        (oid,) = _UINT32.unpack_from(payload, 1)
        schema, offset = _string(payload, 5)
        name, offset = _string(payload, offset)
        identity = chr(payload[offset])
        (count,) = _INT16.unpack_from(payload, offset + 1)
        offset += 3
        columns = []
        for _ in range(count):
            flags = payload[offset]
            column, offset = _string(payload, offset + 1)
            (type_oid,) = _UINT32.unpack_from(payload, offset)
            offset += 8  # type and type modifier
            columns.append(Column(column, type_oid, bool(flags & 1)))
        relation = Relation(oid, schema, name, identity, columns)
        relation.loaders = [self.load(column.type_oid) for column in columns]
        return relation

    def _old(self, relation: Relation, payload: bytes, offset: int) -> tuple[dict[str, Any], int]:
        """The row before, at `offset` ("K" or "O", then TupleData): under "K" the server sends the
        key's columns and a null for every other, which are left out (they are not known)."""
        row, end = self._tuple(relation, payload, offset + 1)
        if payload[offset : offset + 1] == b"K":
            row = {column.name: row[column.name] for column in relation.columns if column.in_key}
        return row, end

    def _tuple(self, relation: Relation, payload: bytes, offset: int) -> tuple[dict[str, Any], int]:
        """The row at `offset` (TupleData) by column name, and where it ends. A value not sent
        (a large value an update left as it was) is left out of the row."""
        (count,) = _INT16.unpack_from(payload, offset)
        offset += 2
        row: dict[str, Any] = {}
        columns, loaders = relation.columns, relation.loaders
        for index in range(count):
            kind = payload[offset]
            offset += 1
            if kind == 116:  # "t": text
                (size,) = _INT32.unpack_from(payload, offset)
                offset += 4
                row[columns[index].name] = loaders[index](payload[offset : offset + size])
                offset += size
            elif kind == 110:  # "n": null
                row[columns[index].name] = None
            elif kind != 117:  # "u": unchanged large value, not sent
                raise ProtocolError(f"unknown tuple value kind {chr(kind)!r} (binary values are not requested)")
        return row, offset


def moment(microseconds: int) -> dt.datetime:
    """A time in the protocol's form (microseconds since 2000-01-01 UTC)."""
    return EPOCH_2000 + dt.timedelta(microseconds=microseconds)


def _string(payload: bytes, offset: int) -> tuple[str, int]:
    end = payload.index(b"\0", offset)
    return payload[offset:end].decode(), end + 1


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL writes it (`16/B374D848`)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_of(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)
