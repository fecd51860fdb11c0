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


def encode(value: Any) -> Any:
    """`value` as JSON-ready data that `decode` turns back into equal values of the same types."""
    if isinstance(value, _PLAIN):
        return value
    for kind, tag, write in _ENCODERS:
        if isinstance(value, kind):
            return {tag: write(value)}
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            encoded = {key: encode(item) for key, item in value.items()}
            return {"$dict": encoded} if any(key.startswith("$") for key in value) else encoded
        return {"$map": [[encode(key), encode(item)] for key, item in value.items()]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(item) for item in value]}
    raise TypeError(f"{type(value).__qualname__} values cannot be written to a change log; convert it first")


def decode(data: Any) -> Any:
    """The values `encode` wrote, with their types restored."""
    if isinstance(data, list):
        return [decode(item) for item in data]
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
    return {key: decode(item) for key, item in data.items()}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
