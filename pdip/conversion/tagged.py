"""JSON that keeps Python types: values JSON lacks travel as one-key objects naming their type.

A change-log entry's `before` and `after` can hold anything a row or a container holds, with no
schema to say what a string meant. So a datetime is written `{"$datetime": "2026-11-22T09:30:00+00:00"}`,
a decimal `{"$decimal": "0.10"}`, and `decode` turns them back into the same types. A mapping
that itself has a key starting with `$` is wrapped (`{"$dict": {...}}`) so it is never mistaken
for a tagged value; mappings with keys that are not strings become `{"$map": [[key, value], ...]}`.

Integers beyond 64 bits and non-finite floats are tagged too (`{"$int": "..."}`, `{"$float": "nan"}`):
every JSON reader then gets them right, and so does orjson, which writes this text several times
faster than the standard library (ADR 0008). It is read by msgspec, which reads integers of any
size exactly (ADR 0011); text the standard library wrote (which may hold bare `NaN`) is still read.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import msgspec
import orjson

_ENCODERS: list[tuple[type, str, Callable[[Any], Any]]] = [
    (dt.datetime, "$datetime", lambda value: value.isoformat()),
    (dt.date, "$date", lambda value: value.isoformat()),
    (dt.time, "$time", lambda value: value.isoformat()),
    (dt.timedelta, "$timedelta", lambda value: value.total_seconds()),
    (Decimal, "$decimal", str),
    (uuid.UUID, "$uuid", str),
    (bytes, "$bytes", lambda value: base64.b64encode(value).decode("ascii")),
    (bytearray, "$bytes", lambda value: base64.b64encode(bytes(value)).decode("ascii")),
]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$time": dt.time.fromisoformat,
    "$timedelta": lambda seconds: dt.timedelta(seconds=seconds),
    "$decimal": Decimal,
    "$uuid": uuid.UUID,
    "$bytes": base64.b64decode,
    "$int": int,
    "$float": float,
}

# Exact types written as they are, whatever their value (ints and floats are checked: see _number).
_SAFE_TYPES = frozenset({str, bool, type(None)})
_INT_RANGE = range(-(2**63), 2**64)  # what JSON readers, orjson among them, take without loss


_BY_TYPE = {kind: (tag, write) for kind, tag, write in _ENCODERS}


def encode(value: Any) -> Any:
    """`value` as JSON-ready data that `decode` turns back into equal values of the same types."""
    kind = type(value)  # exact types first: one lookup each, since rows are encoded by the million
    if kind in _SAFE_TYPES:
        return value
    if kind is int or kind is float:
        return _number(value)
    if kind is dict:
        return _encode_mapping(value)
    if kind is list:
        return [item if type(item) in _SAFE_TYPES else encode(item) for item in value]
    known = _BY_TYPE.get(kind)
    if known is not None:
        return {known[0]: known[1](value)}
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, enum.Enum):  # written as its value, as JSON consumers expect
        return encode(value.value)
    for base, tag, write in _ENCODERS:
        if isinstance(value, base):
            return {tag: write(value)}
    if isinstance(value, Mapping):
        return _encode_mapping(value)
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(item) for item in value]}
    raise TypeError(f"{type(value).__qualname__} values cannot be written to a change log; convert it first")


def _encode_mapping(value: Mapping) -> Any:
    if not all(type(key) is str or isinstance(key, str) for key in value):
        return {"$map": [[encode(key), encode(item)] for key, item in value.items()]}
    encoded = {key: item if type(item) in _SAFE_TYPES else encode(item) for key, item in value.items()}
    return {"$dict": encoded} if any(key.startswith("$") for key in value) else encoded


def _number(value: int | float) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(float(value))}
    return int(value) if value in _INT_RANGE else {"$int": str(value)}


class _NotARow(Exception):
    """A value the row fast path leaves to the general one."""


def _row_item(value: Any) -> Any:
    """A row's value that orjson would not write as `encode` does, made so (or _NotARow). The
    tag's value is left to orjson where it writes the text `encode` would, in C: a UUID, a date,
    a datetime that is naive or in UTC (pdip's own times; in other zones orjson drops an
    offset's seconds, so those are written by `isoformat`)."""
    kind = type(value)
    if kind in _ORJSON_TEXT or (kind is dt.datetime and (value.tzinfo is None or value.tzinfo is _UTC)):
        return {_BY_TYPE[kind][0]: value}
    known = _BY_TYPE.get(kind)
    if known is not None:
        return {known[0]: known[1](value)}
    if type(value) is float:
        return _number(value)
    raise _NotARow


_ORJSON_TEXT = frozenset({uuid.UUID, dt.date})  # orjson writes them as str() and isoformat() do
_UTC = dt.timezone.utc

# Exact types orjson writes as `encode` would (an int out of range makes orjson raise TypeError).
_ROW_NATIVE = frozenset({str, int, bool, type(None)})


def dumps(value: Any) -> str:
    """`encode(value)` as compact JSON text. A row (a dict of text keys and scalar values) takes
    a short path: one pass to tag what needs tagging, then orjson; so does a UUID (the key of
    every outbox entry about an entity)."""
    kind = type(value)
    if kind in _ORJSON_TEXT:
        return orjson.dumps({_BY_TYPE[kind][0]: value}).decode()
    if kind is dict:
        try:
            row = {key: item if type(item) in _ROW_NATIVE else _row_item(item) for key, item in value.items()}
            if not any(key[:1] == "$" for key in row):
                return orjson.dumps(row).decode()
        except (_NotARow, TypeError):  # nested values, non-text keys, 65-bit ints, lone surrogates
            pass
    return write_json(encode(value))


class NotARow(ValueError):
    """A value `row_data` leaves to `encode`."""


def row_data(value: Any) -> Any:
    """Data orjson writes as `encode(value)`'s text, for None or a row (a dict of text keys, none
    starting with "$", of scalar values), by the short path `dumps` takes (UUIDs, dates and UTC
    times left in their tags for orjson, see `_row_item`); NotARow for anything else. Ints past 64
    bits are left as they are, for orjson to refuse (TypeError): the caller then writes `encode`'s."""
    if value is None:
        return None
    if type(value) is not dict:
        raise NotARow
    row = value  # a row of text, ints and nulls only (most rows of a stream) is written as it is
    for item in value.values():
        if type(item) not in _ROW_NATIVE:
            try:
                row = {key: item if type(item) in _ROW_NATIVE else _row_item(item) for key, item in value.items()}
            except _NotARow:
                raise NotARow from None
            break
    names = tuple(row)  # rows of a stream share a few sets of names: each is looked at once
    plain = _PLAIN_NAMES.get(names)
    if plain is None:
        if len(_PLAIN_NAMES) >= 1024:
            _PLAIN_NAMES.clear()
        plain = _PLAIN_NAMES[names] = all(type(key) is str and key[:1] != "$" for key in names)
    if not plain:
        raise NotARow
    return row


_PLAIN_NAMES: dict[tuple, bool] = {}  # whether a row's names are all text without a leading "$"


def write_json(data: Any) -> str:
    """JSON-ready data (what `encode` returns) as compact text."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # text orjson refuses (lone surrogates): the standard encoder writes it
        return _STANDARD_DUMPS(data)


_STANDARD_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def read_json(text: str | bytes) -> Any:
    """JSON text as data, every number exact: msgspec reads integers of any size as integers
    (orjson would read those past 64 bits as floats). Text it refuses but the standard library
    reads (bare NaN, a lone surrogate) goes to the standard library, which also says what is
    wrong with text that is not JSON."""
    try:
        return _read(text)
    except (msgspec.DecodeError, UnicodeEncodeError):
        return json.loads(text)


_read = msgspec.json.Decoder().decode


def loads(text: str | bytes | None) -> Any:
    """What `dumps` wrote, with its types restored; None stays None (a NULL column)."""
    return None if text is None else decode(read_json(text))


_NESTED = frozenset({dict, list})  # what JSON parsers return for objects and arrays
TAGS = frozenset({*_DECODERS, "$dict", "$map", "$tuple", "$set"})  # the names of an object that is one tagged value


def decode(data: Any) -> Any:
    """The values `encode` wrote (as a JSON parser returns them), with their types restored. A
    list or an untagged mapping of plain values (the common row image) is returned as it is,
    without being copied."""
    kind = type(data)
    if kind is list:
        return data if _NESTED.isdisjoint(map(type, data)) else [decode(item) for item in data]
    if kind is not dict:
        return data
    if len(data) == 1:
        ((tag, inner),) = data.items()
        if tag in TAGS:
            if tag in _DECODERS:
                return _DECODERS[tag](inner)
            if tag == "$dict":
                return {key: decode(item) for key, item in inner.items()}
            if tag == "$map":
                return {_hashable(decode(key)): decode(item) for key, item in inner}
            if tag == "$tuple":
                return tuple(decode(item) for item in inner)
            if tag == "$set":
                return {_hashable(decode(item)) for item in inner}
    if _NESTED.isdisjoint(map(type, data.values())):
        return data
    return {key: decode(item) for key, item in data.items()}


def plain_row(data: Any) -> bool:
    """Whether `decode` returns `data` (as a JSON parser returns it) as it is: a mapping that is
    no tag and holds no object or array (the usual row image)."""
    if type(data) is not dict or (len(data) == 1 and next(iter(data)) in TAGS):
        return False
    return _NESTED.isdisjoint(map(type, data.values()))


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
