"""`ChangeLogEntry`: the one record of a change that every part of pdip speaks.

Tracked containers, the repository's outbox, Kafka messages and JSON Lines files all carry this
type. It is compact (slots; the timestamp is kept as epoch seconds, or as the datetime it was
read as until something asks for seconds; the id is made only when first asked for) because a
tracked container may hold many thousands in its history, and it is lossless through JSON:
`before` and `after` keep datetimes, decimals, UUIDs and bytes (see `pdip.conversion.tagged`).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
import orjson

from pdip.conversion.tagged import TAGS, NotARow, decode, encode, plain_row, read_json, row_data, write_json

SCHEMA_VERSION = 1

RECORD_ACTIONS = frozenset({"insert", "update", "delete"})
CONTAINER_ACTIONS = frozenset({"set", "delete", "append", "insert", "remove", "clear"})
ACTIONS = RECORD_ACTIONS | CONTAINER_ACTIONS

_UNTAGGED = frozenset({int, str, type(None)})  # key values that decode to themselves

NOT_AN_ENTRY = (ValueError, KeyError, TypeError, AttributeError)  # what reading a text that holds none raises

_FIELDS = ("action", "entity", "key", "path", "before", "after", "actor", "tenant", "sequence")


class _NoExtra:
    """The stored `extra` of an entry a tracked container recorded with nothing extra to say: it
    reads as an empty `extra` (so `entry.extra["location"]` works) and is written as none."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NO_EXTRA"  # pickled by name: the one instance on both sides

    def __repr__(self) -> str:
        return "NO_EXTRA"


NO_EXTRA = _NoExtra()
ADDED = {"added": True}  # shared by every entry of a new key; stored extras are never changed in place


class ChangeLogEntry:
    """One change: what happened (`action`) to what (`entity`, `key`, `path`), from `before` to
    `after`, by whom (`actor`, `tenant`), when (`timestamp`, UTC) and in which order (`sequence`)."""

    __slots__ = (
        "_extra",
        "_id",
        "_timestamp",
        "action",
        "actor",
        "after",
        "before",
        "entity",
        "key",
        "path",
        "sequence",
        "tenant",
    )

    schema_version = SCHEMA_VERSION

    def __init__(
        self,
        action: str,
        *,
        entity: str | None = None,
        key: Any = None,
        path: str | None = None,
        before: Any = None,
        after: Any = None,
        actor: str | None = None,
        tenant: str | None = None,
        sequence: int | None = None,
        timestamp: dt.datetime | float | None = None,
        id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(sorted(ACTIONS))}; got {action!r}")
        self.action = action
        self.entity = entity
        self.key = key
        self.path = path
        self.before = before
        self.after = after
        self.actor = actor
        self.tenant = tenant
        self.sequence = sequence
        self._extra = dict(extra) if extra else None
        self._id = id
        self._timestamp = _epoch(timestamp)

    @property
    def extra(self) -> EntryExtra | None:
        """What else the entry says (`stack`, `added`, a repository's own fields), read-only; None
        when an entry made elsewhere than a tracked container says nothing more. See `EntryExtra`
        for the keys `location`, `action` and `value`."""
        stored = self._extra
        if stored is None:
            return None
        return EntryExtra(self, None if stored is NO_EXTRA else stored)

    @extra.setter
    def extra(self, value: Mapping[str, Any] | None) -> None:
        self._extra = dict(value) if value else None

    @property
    def stored_extra(self) -> dict[str, Any] | None:
        """The extra fields the entry stores and writes out (none of `EntryExtra`'s derived keys)."""
        stored = self._extra
        return None if stored is NO_EXTRA else stored

    @property
    def id(self) -> str:
        """A unique id (128 random bits as 32 hex digits), made the first time it is asked for."""
        if self._id is None:
            self._id = os.urandom(16).hex()  # what uuid4().hex carries, without building a UUID
        return self._id

    @staticmethod
    def name_all(entries: list[ChangeLogEntry]) -> None:
        """Give each entry without one its id, from one read of the random source for them all
        (the outbox names a flush's entries at once: a read per entry costs more than the rest)."""
        unnamed = [entry for entry in entries if entry._id is None]
        digits = os.urandom(16 * len(unnamed)).hex()
        for index, entry in enumerate(unnamed):
            entry._id = digits[32 * index : 32 * index + 32]

    def __reduce__(self) -> tuple:
        """Pickled as a flat tuple (entries cross process boundaries by the thousand), with its id
        fixed first, so both sides of the pickle name the same entry."""
        return (
            _unpickle,
            (
                self.action,
                self.entity,
                self.key,
                self.path,
                self.before,
                self.after,
                self.actor,
                self.tenant,
                self.sequence,
                self.epoch,
                self.id,
                self._extra,
            ),
        )

    @property
    def timestamp(self) -> dt.datetime:
        moment = self._timestamp
        if type(moment) is dt.datetime:
            return moment.astimezone(dt.timezone.utc)
        return dt.datetime.fromtimestamp(moment, dt.timezone.utc)

    @property
    def epoch(self) -> float:
        """The timestamp as seconds since the epoch (cheap to compare)."""
        moment = self._timestamp
        if type(moment) is dt.datetime:  # as `from_dict` read it: seconds are worked out once, if asked
            moment = self._timestamp = moment.timestamp()
        return moment

    # -- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; `from_dict` restores an equal entry, values with their types."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "sequence": self.sequence,
            "timestamp": self.timestamp.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "key": encode(self.key),
            "path": self.path,
            "before": encode(self.before),
            "after": encode(self.after),
            "tenant": self.tenant,
            "extra": encode(self.stored_extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangeLogEntry:
        """The entry `to_dict` wrote (KeyError, TypeError or ValueError when `data` is not one)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        if "action" not in data:
            raise KeyError("action")
        try:
            fields = msgspec.convert(data if type(data) is dict else dict(data), _EntryFields)
        except msgspec.ValidationError as error:  # keys that are not text
            raise TypeError(str(error)) from None
        return _filled(cls, fields)

    def to_json(self) -> str:
        """`to_dict` as compact JSON. An entry about a record whose rows hold scalars and whose key
        is text or an int (a change stream's entries, by the million) is written in one orjson
        call, each row tagged in one pass; anything else, or what orjson refuses, by `to_dict`."""
        written = self._record_json()
        return written.decode() if written is not None else write_json(self.to_dict())

    def to_json_bytes(self) -> bytes:
        """`to_json` as UTF-8 bytes, for a sender that hands them on at once (a Kafka producer
        copies each message): the short way's are orjson's own, which hold about 4 KiB whatever
        their length, so they are not for keeping (`to_json().encode()` is)."""
        written = self._record_json()
        return written if written is not None else write_json(self.to_dict()).encode()

    def _record_json(self) -> bytes | None:
        """The one orjson call of an entry about a record; None where it does not apply (an
        `extra`, a tagged key, nested or untagged values, 65-bit ints, lone surrogates)."""
        key, moment = self.key, self._timestamp
        if self._extra is not None or type(key) not in _UNTAGGED or type(moment) is dt.datetime:
            return None
        try:
            return orjson.dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "id": self.id,
                    "sequence": self.sequence,
                    "timestamp": _iso(moment),
                    "actor": self.actor,
                    "action": self.action,
                    "entity": self.entity,
                    "key": key,
                    "path": self.path,
                    "before": row_data(self.before),
                    "after": row_data(self.after),
                    "tenant": self.tenant,
                    "extra": None,
                }
            )
        except (NotARow, TypeError):
            return None

    @classmethod
    def from_json(cls, text: str | bytes) -> ChangeLogEntry:
        """The entry `to_json` wrote. A change stream's reader calls this for every message, so the
        text is read straight into the entry's fields: first as the usual entry about a record
        (`_RecordFields`, whose types msgspec checks as it reads), else as any entry
        (`_EntryFields`); text that cannot be read that way is read as JSON and given to
        `from_dict`, whose error names what is wrong."""
        try:
            entry = _record_entry(cls, _read_record(text))
        except ValueError:  # msgspec's DecodeError is one: not the usual entry, read the general way
            entry = None
        if entry is not None:
            return entry
        try:
            fields = _read_fields(text)
        except (msgspec.DecodeError, UnicodeEncodeError):  # the latter: text with a lone surrogate
            return cls.from_dict(read_json(text))
        return _filled(cls, fields)

    @classmethod
    def many_from_json(cls, texts: Iterable[str | bytes]) -> tuple[list[ChangeLogEntry], list[tuple[int, Exception]]]:
        """`from_json` over many texts (a change stream's batch): the entries, and the index of
        each text that holds none with what reading it raised."""
        entries: list[ChangeLogEntry] = []
        failed: list[tuple[int, Exception]] = []
        keep, read = entries.append, cls.from_json
        for index, text in enumerate(texts):
            try:
                keep(read(text))
            except NOT_AN_ENTRY as error:
                failed.append((index, error))
        return entries, failed

    def replace(self, **changes: Any) -> ChangeLogEntry:
        """A copy with some fields changed (policies use it; entries are not changed in place)."""
        timestamp = changes.pop("timestamp", self._timestamp)
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        entry = ChangeLogEntry(values.pop("action"), id=self.id, timestamp=timestamp, **values)
        if "extra" not in changes:
            entry._extra = self._extra
        return entry

    # -- comparison and display --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChangeLogEntry):
            return NotImplemented
        return (
            all(getattr(self, name) == getattr(other, name) for name in _FIELDS)
            and self.stored_extra == other.stored_extra
            and self.id == other.id
            and abs(self.epoch - other.epoch) < 1e-6
        )

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        where = self.entity or ""
        if self.key is not None:
            where += f"[{self.key!r}]"
        if self.path:
            where += f" {self.path}"
        change = f"{self.before!r} -> {self.after!r}"
        return f"ChangeLogEntry({self.sequence}: {self.action} {where.strip()}: {change}, actor={self.actor!r})"


@functools.lru_cache(maxsize=64)
def _iso(epoch: float) -> str:
    """The ISO text of a time in seconds, as `to_dict` writes it; kept for the few times a batch
    holds (the entries of one transaction share its commit time)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def _epoch(timestamp: dt.datetime | float | None) -> float:
    if timestamp is None:
        return time.time()
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:  # naive datetimes are UTC throughout pdip
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        return timestamp.timestamp()
    return float(timestamp)


def _moment_of_text(text: str) -> dt.datetime:
    """The aware datetime of an ISO 8601 time (UTC when it names no zone)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        if not text.endswith(("Z", "z")):
            raise
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00")  # Python 3.10 refuses "Z"
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


class _EntryFields(msgspec.Struct, gc=False):
    """The fields of an entry's JSON, as msgspec reads them: faster than a dict, and exact for
    integers of any size. Values are checked by `_filled`, as `from_dict`'s are."""

    action: Any
    schema_version: Any = SCHEMA_VERSION
    id: Any = None
    sequence: Any = None
    timestamp: Any = None
    actor: Any = None
    entity: Any = None
    key: Any = None
    path: Any = None
    before: Any = None
    after: Any = None
    tenant: Any = None
    extra: Any = None


_read_fields = msgspec.json.Decoder(_EntryFields).decode

_Scalar = int | float | str | bool | None


class _RecordFields(msgspec.Struct, gc=False):
    """The fields of the usual entry of a change stream, typed: text, an int or text key, row
    images of scalars (or a scalar), no `extra`. msgspec checks the types as it reads, so what
    `_filled` does value by value in Python is done here in C (a change stream's entries read in
    0.6-0.75 of the time); JSON of any other shape fails to read and takes the general way."""

    action: str
    schema_version: int = SCHEMA_VERSION
    id: str | None = None
    sequence: int | None = None
    timestamp: str | float | None = None  # ISO text, or seconds (msgspec reads an int as a float)
    actor: str | None = None
    entity: str | None = None
    key: int | str | None = None
    path: str | None = None
    before: dict[str, _Scalar] | _Scalar = None
    after: dict[str, _Scalar] | _Scalar = None
    tenant: str | None = None
    extra: None = None


_read_record = msgspec.json.Decoder(_RecordFields).decode


def _record_entry(cls, fields: _RecordFields) -> ChangeLogEntry | None:
    """The entry `fields` hold, made as `_filled` makes it; None for a version or an action this
    pdip does not read (the general way says why). A timestamp that is not ISO 8601 raises
    ValueError."""
    if fields.schema_version != SCHEMA_VERSION or fields.action not in ACTIONS:
        return None
    before, after, timestamp = fields.before, fields.after, fields.timestamp
    entry = cls.__new__(cls)
    entry.action = fields.action
    entry.entity = fields.entity
    entry.key = fields.key
    entry.path = fields.path
    # a one-field image named by a tag is one tagged value (`{"$date": ...}`), which `decode` reads
    if type(before) is dict and len(before) == 1 and next(iter(before)) in TAGS:
        before = decode(before)
    if type(after) is dict and len(after) == 1 and next(iter(after)) in TAGS:
        after = decode(after)
    entry.before = before
    entry.after = after
    entry.actor = fields.actor
    entry.tenant = fields.tenant
    entry.sequence = fields.sequence
    entry._extra = None
    entry._id = fields.id
    entry._timestamp = _moment_of_text(timestamp) if type(timestamp) is str else _epoch(timestamp)  # as `_filled`
    return entry


def _filled(cls, fields: _EntryFields) -> ChangeLogEntry:
    """An entry with its slots filled from what JSON held: the checks of `__init__`, without it
    (a change stream's reader makes thousands of entries a second)."""
    version, action, key = fields.schema_version, fields.action, fields.key
    before, after, extra, timestamp = fields.before, fields.after, fields.extra, fields.timestamp
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"change-log entry schema_version {version} is not supported (this pdip reads {SCHEMA_VERSION})"
        )
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(sorted(ACTIONS))}; got {action!r}")
    entry = cls.__new__(cls)
    entry.action = action
    entry.entity = fields.entity
    entry.key = key if type(key) in _UNTAGGED else decode(key)
    entry.path = fields.path
    entry.before = None if before is None else decode(before)
    entry.after = None if after is None else after if plain_row(after) else decode(after)  # a row image: as read
    entry.actor = fields.actor
    entry.tenant = fields.tenant
    entry.sequence = fields.sequence
    entry._extra = dict(decode(extra)) if extra else None
    entry._id = fields.id
    # Text is parsed (and so checked) here, but turned into seconds only if someone asks: a
    # change stream's applier reads thousands of entries a second and most never look.
    entry._timestamp = _moment_of_text(timestamp) if type(timestamp) is str else _epoch(timestamp)
    return entry


def record_entry(action: str, entity: str | None, key: Any, before: Any, after: Any, epoch: float) -> ChangeLogEntry:
    """An entry about a record, made without `__init__`'s checks: for a change source that makes
    them by the million and knows `action` is one of RECORD_ACTIONS and `epoch` is seconds."""
    entry = ChangeLogEntry.__new__(ChangeLogEntry)
    entry.action, entry.entity, entry.key, entry.path = action, entity, key, None
    entry.before, entry.after, entry.actor, entry.tenant = before, after, None, None
    entry.sequence, entry._timestamp, entry._id, entry._extra = None, epoch, None, None
    return entry


def packed(entries: list[ChangeLogEntry]) -> list[tuple]:
    """`entries` as plain tuples of their fields, ids given first (one read of the random source
    for all): a batch of entries crosses a process boundary this way, since pickling tuples
    costs a third of pickling the objects one `__reduce__` call at a time."""
    ChangeLogEntry.name_all(entries)
    return [
        (
            e.action,
            e.entity,
            e.key,
            e.path,
            e.before,
            e.after,
            e.actor,
            e.tenant,
            e.sequence,
            e._timestamp,
            e._id,
            e._extra,
        )
        for e in entries
    ]


def unpacked(rows: list[tuple]) -> list[ChangeLogEntry]:
    """The entries `packed` made tuples of."""
    new, entries = ChangeLogEntry.__new__, []
    for row in rows:
        entry = new(ChangeLogEntry)
        (
            entry.action,
            entry.entity,
            entry.key,
            entry.path,
            entry.before,
            entry.after,
            entry.actor,
            entry.tenant,
            entry.sequence,
            entry._timestamp,
            entry._id,
            entry._extra,
        ) = row
        entries.append(entry)
    return entries


def _unpickle(action, entity, key, path, before, after, actor, tenant, sequence, epoch, id, extra):
    entry = ChangeLogEntry.__new__(ChangeLogEntry)
    entry.action, entry.entity, entry.key, entry.path = action, entity, key, path
    entry.before, entry.after, entry.actor, entry.tenant = before, after, actor, tenant
    entry.sequence, entry._timestamp, entry._id, entry._extra = sequence, epoch, id, extra
    return entry


class EntryExtra(Mapping):
    """`entry.extra`: the extra fields an entry stores, read-only, and, for code written for
    pydatatracker, three keys worked out from the entry when asked for by name:

    - `location`: the entry's `path` (`orders[1].status`);
    - `action`: the entry's `action` (pdip's names: set, delete, append, insert, remove, clear);
    - `value`: `after` as text (itself when it is text, else its `repr`), as pydatatracker kept it.

    A stored field of the same name wins. The derived keys are not listed, counted or written
    out (iteration, `len`, `to_dict` see the stored fields only), so nothing is stored twice and
    a field policy that redacts `after` also changes what `value` says.
    """

    __slots__ = ("_entry", "_stored")

    def __init__(self, entry: ChangeLogEntry, stored: Mapping[str, Any] | None):
        self._entry = entry
        self._stored = stored

    def __getitem__(self, name: str) -> Any:
        stored = self._stored
        if stored is not None and name in stored:
            return stored[name]
        if name == "location":
            return self._entry.path
        if name == "action":
            return self._entry.action
        if name == "value":
            after = self._entry.after
            return after if type(after) is str else repr(after)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored or ())

    def __len__(self) -> int:
        return len(self._stored) if self._stored else 0

    def __repr__(self) -> str:
        return repr(dict(self._stored or {}))


def message_key(entry: ChangeLogEntry) -> bytes:
    """The Kafka message key of an entry: its entity and key, so one row's changes share a
    partition and stay in order. `["accounts",42]`, as compact JSON (tagged for other types)."""
    key = entry.key
    if type(key) is int or type(key) is str:  # the usual keys: as they are (orjson refuses 65-bit ints)
        try:  # copied out of orjson's buffer: each one kept holds about 4 KiB of memory, not its length
            return orjson.dumps([entry.entity, key]).decode().encode()
        except TypeError:
            pass
    return write_json([entry.entity, encode(key)]).encode()
