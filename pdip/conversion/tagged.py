"""JSON that keeps Python types: values JSON lacks travel as one-key objects naming their type.

A change-log entry's `before` and `after` can hold anything a row or a container holds, with no
schema to say what a string meant. So a datetime is written `{"$datetime": "2026-11-22T09:30:00+00:00"}`,
a decimal `{"$decimal": "0.10"}`, and `decode` turns them back into the same types. A mapping
that itself has a key starting with `$` is wrapped (`{"$dict": {...}}`) so it is never mistaken
for a tagged value; mappings with keys that are not strings become `{"$map": [[key, value], ...]}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

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
}

_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)  # exact types, for the per-item fast path


_BY_TYPE = {kind: (tag, write) for kind, tag, write in _ENCODERS}


def encode(value: Any) -> Any:
    """`value` as JSON-ready data that `decode` turns back into equal values of the same types."""
    kind = type(value)  # exact types first: one lookup each, since rows are encoded by the million
    if kind in _PLAIN_TYPES:
        return value
    if kind is dict:
        return _encode_mapping(value)
    if kind is list:
        return [item if type(item) in _PLAIN_TYPES else encode(item) for item in value]
    known = _BY_TYPE.get(kind)
    if known is not None:
        return {known[0]: known[1](value)}
    if isinstance(value, _PLAIN):
        return value
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
    encoded = {key: item if type(item) in _PLAIN_TYPES else encode(item) for key, item in value.items()}
    return {"$dict": encoded} if any(key.startswith("$") for key in value) else encoded


_SCALAR_TYPES = _PLAIN_TYPES | frozenset(_BY_TYPE)


def _tag_scalar(value: Any) -> Any:
    known = _BY_TYPE.get(type(value))
    if known is None:
        raise TypeError(f"{type(value).__qualname__} is not a scalar")
    return {known[0]: known[1](value)}


_SCALAR_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_tag_scalar).encode
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> str:
    """`json.dumps(encode(value))`, compactly, and fast for the common case of a row: a dict with
    text keys and scalar values, which the C encoder writes in one pass with scalars tagged."""
    if type(value) is dict and all(
        type(key) is str and not key.startswith("$") and type(item) in _SCALAR_TYPES for key, item in value.items()
    ):
        return _SCALAR_DUMPS(value)
    return _DUMPS(encode(value))


def loads(text: str | bytes | None) -> Any:
    """What `dumps` wrote, with its types restored; None stays None (a NULL column)."""
    return None if text is None else decode(json.loads(text))


_NESTED = (dict, list)


def decode(data: Any) -> Any:
    """The values `encode` wrote, with their types restored. A list or an untagged mapping of
    plain values (the common row image) is returned as it is, without being copied."""
    if isinstance(data, list):
        return [decode(item) for item in data] if any(isinstance(item, _NESTED) for item in data) else data
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, inner),) = data.items()
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
    if not any(isinstance(item, _NESTED) for item in data.values()):
        return data
    return {key: decode(item) for key, item in data.items()}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
