"""PostgreSQL binary `COPY` rows decoded into Arrow arrays, a column at a time, never a Python row.

A batch of binary COPY rows (one message per row, as libpq hands them over) is joined into one
buffer; numpy then walks all rows at once, one field after another: each row's field starts
where the previous field ended, so a column's lengths are one gather of four bytes per row, and
its values one gather more. Fixed-width values (integers, floats, booleans, dates, timestamps,
times, UUIDs) become Arrow arrays over the gathered bytes; text, JSON and bytes become an Arrow
string or binary array over their concatenated bytes. A type without a vectorised decoder
(`numeric`, `interval`, arrays...), and a date or timestamp column holding PostgreSQL's
infinities, is decoded by psycopg's own binary loaders, value by value, so its values and its
errors are exactly those of the general path.

The Arrow type of each column is the source's declared one (the type map, `types.arrow_fields`)
where it declares one, else the wire type's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from pdip.integrator.adapters.sql.postgres import CopyRows
from pdip.integrator.types import arrow_array

# microseconds and days between the Unix epoch and PostgreSQL's (2000-01-01)
_EPOCH_MICROSECONDS = 946_684_800_000_000
_EPOCH_DAYS = 10_957
# The dates (days) and timestamps (microseconds) from PostgreSQL's epoch that Python holds:
# a value past them (`infinity`, the year 10000) is psycopg's to refuse, as on the general path
_EPOCH = dt.datetime(2000, 1, 1)
_HELD = {
    "date": ((dt.date.min - _EPOCH.date()).days, (dt.date.max - _EPOCH.date()).days),
    "timestamp": (
        (dt.datetime.min - _EPOCH) // dt.timedelta(microseconds=1),
        (dt.datetime.max - _EPOCH) // dt.timedelta(microseconds=1),
    ),
    "time": (0, 86_400_000_000 - 1),  # PostgreSQL's 24:00:00 is no Python time
}
_OFFSETS_UP_TO = 2**31 - 1  # the bytes an Arrow string or binary array of 32-bit offsets reaches


def record_batch(rows: CopyRows, oids: Sequence[int], columns: Sequence[str], fields: Sequence[Any]) -> Any:
    """`rows` (binary COPY rows, without the header and trailer) as an Arrow record batch;
    `fields` is the declared Arrow field of each column (None: the wire type's)."""
    import pyarrow

    count = len(rows)
    data = numpy.frombuffer(rows.data, dtype=numpy.uint8)
    lengths = numpy.frombuffer(rows.lengths, dtype=numpy.int64)
    starts = numpy.zeros(count, dtype=numpy.int64)
    numpy.cumsum(lengths[:-1], out=starts[1:])
    if not (_gather(data, starts, ">i2") == len(oids)).all():
        raise ValueError(f"binary COPY rows that do not have {len(oids)} fields")
    at = starts + 2
    arrays = []
    for oid, field in zip(oids, fields, strict=True):
        sizes = _gather(data, at, ">i4").astype(numpy.int64)
        valid = sizes >= 0
        body = at + 4
        array = _decoded(oid, data, body, sizes, valid)
        if array is None:
            array = _loaded(oid, data, body, sizes, valid, field)
        if field is not None and array.type != field.type:
            array = array.cast(field.type)
        arrays.append(array)
        at = body + numpy.maximum(sizes, 0)
    if not (at == starts + lengths).all():
        raise ValueError("binary COPY rows whose fields do not fill them")
    return pyarrow.RecordBatch.from_arrays(arrays, names=list(columns))


def _gather(data: numpy.ndarray, at: numpy.ndarray, kind: str) -> numpy.ndarray:
    """The big-endian values of `kind` starting at each of `at`, in native order."""
    return _starting_anywhere(data, kind)[at].astype(numpy.dtype(kind).newbyteorder("="))


def _starting_anywhere(data: numpy.ndarray, kind: str) -> numpy.ndarray:
    """`data` seen, without a copy, as values of `kind` starting at every byte (a stride of one):
    indexing it gathers whole values at once, 2-4 times as fast as gathering rows of a
    (values, width) array of bytes, which numpy copies a byte at a time."""
    width = numpy.dtype(kind).itemsize
    return numpy.ndarray((max(len(data) - width + 1, 0),), dtype=kind, buffer=data, strides=(1,))


def _validity(valid: numpy.ndarray) -> Any:
    import pyarrow

    if valid.all():
        return None
    return pyarrow.py_buffer(numpy.packbits(valid, bitorder="little"))


def _fixed(kind: Any, wire: str, convert: Callable[[numpy.ndarray], numpy.ndarray] | None = None) -> Any:
    """A decoder of values of one fixed width (`wire`, big-endian) as Arrow `kind`."""

    def decode(data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
        import pyarrow

        values = numpy.where(valid, _gather(data, numpy.where(valid, body, 0), wire), 0)
        if convert is not None:
            values = convert(values)
        return pyarrow.Array.from_buffers(kind(), len(body), [_validity(valid), pyarrow.py_buffer(values)])

    return decode


def _shifted(name: str, offset: int) -> Callable[[numpy.ndarray], numpy.ndarray]:
    """Dates (days), timestamps (microseconds) from PostgreSQL's epoch to the Unix one, or
    times of day (`offset` 0); a value Python does not hold leaves the column to psycopg's
    loader, which refuses it."""
    low, high = _HELD[name]

    def convert(values: numpy.ndarray) -> numpy.ndarray:
        if len(values) and (values.min() < low or values.max() > high):
            raise _Unrepresentable
        return values + offset

    return convert


class _Unrepresentable(Exception):
    """A value the vectorised decoder leaves to psycopg's loader."""


def _boolean(data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
    import pyarrow

    values = (data[numpy.where(valid, body, 0)] != 0) & valid
    bits = pyarrow.py_buffer(numpy.packbits(values, bitorder="little"))
    return pyarrow.Array.from_buffers(pyarrow.bool_(), len(body), [_validity(valid), bits])


def _variable(kind: Any, skip: int = 0) -> Any:
    """A decoder of text or bytes as Arrow `kind` (`skip`: leading bytes of each value that are
    not its content, jsonb's version)."""

    def decode(data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
        import pyarrow

        if skip and (data[body[valid]] != 1).any():
            raise _Unrepresentable  # a jsonb of another version than the one known here
        spans = _spans(data, body + skip, numpy.where(valid, sizes - skip, 0))
        offsets, values = spans.buffers()[1:]
        array = pyarrow.Array.from_buffers(kind(), len(body), [_validity(valid), offsets, values])
        if kind is not pyarrow.binary:
            array.validate(full=True)  # text that is not UTF-8 is refused here, as psycopg refuses it
        return array

    return decode


def _spans(data: numpy.ndarray, starts: numpy.ndarray, widths: numpy.ndarray) -> Any:
    """The bytes of `data` from each of `starts` on for its width, as an Arrow binary array.
    The whole buffer is first seen, without a copy, as a binary array whose values are the
    spans and what lies between them, one after the other; Arrow's `take` of every second
    value then copies the spans out in one pass."""
    import pyarrow
    import pyarrow.compute

    if len(data) > _OFFSETS_UP_TO:
        raise _Unrepresentable  # past a 32-bit offset: left to the loader
    bounds = numpy.empty(2 * len(starts) + 2, dtype=numpy.int32)
    bounds[0], bounds[-1] = 0, len(data)
    bounds[1:-1:2], bounds[2:-1:2] = starts, starts + widths
    whole = pyarrow.Array.from_buffers(
        pyarrow.binary(), len(bounds) - 1, [None, pyarrow.py_buffer(bounds), pyarrow.py_buffer(data)]
    )
    every_second = numpy.arange(1, len(bounds) - 1, 2, dtype=numpy.int32)
    # an Arrow array of the indices, not numpy's: converting one would import pandas
    indices = pyarrow.Array.from_buffers(pyarrow.int32(), len(every_second), [None, pyarrow.py_buffer(every_second)])
    return pyarrow.compute.take(whole, indices)


def _uuid(data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
    import pyarrow

    picked = _starting_anywhere(data, "V16")[numpy.where(valid, body, 0)]
    storage = pyarrow.Array.from_buffers(pyarrow.binary(16), len(body), [_validity(valid), pyarrow.py_buffer(picked)])
    return pyarrow.ExtensionArray.from_storage(pyarrow.uuid(), storage)


def _json(skip: int) -> Any:
    import pyarrow

    text = _variable(pyarrow.string, skip)

    def decode(data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
        import pyarrow

        return pyarrow.ExtensionArray.from_storage(pyarrow.json_(), text(data, body, sizes, valid))

    return decode


def _decoders() -> dict[int, Any]:
    import pyarrow

    text = _variable(pyarrow.string)
    return {
        16: _boolean,
        17: _variable(pyarrow.binary),
        18: _variable(pyarrow.string),  # "char"
        19: text,  # name
        20: _fixed(pyarrow.int64, ">i8"),
        21: _fixed(pyarrow.int16, ">i2"),
        23: _fixed(pyarrow.int32, ">i4"),
        25: text,
        26: _fixed(pyarrow.int64, ">u4", lambda values: values.astype(numpy.int64)),  # oid
        114: _json(0),
        700: _fixed(pyarrow.float32, ">f4"),
        701: _fixed(pyarrow.float64, ">f8"),
        1042: text,  # bpchar
        1043: text,  # varchar
        1082: _fixed(pyarrow.date32, ">i4", _shifted("date", _EPOCH_DAYS)),
        1083: _fixed(lambda: pyarrow.time64("us"), ">i8", _shifted("time", 0)),
        1114: _fixed(lambda: pyarrow.timestamp("us"), ">i8", _shifted("timestamp", _EPOCH_MICROSECONDS)),
        1184: _fixed(lambda: pyarrow.timestamp("us", tz="UTC"), ">i8", _shifted("timestamp", _EPOCH_MICROSECONDS)),
        2950: _uuid,
        3802: _json(1),
    }


_DECODERS: dict[int, Any] = {}


def _decoded(oid: int, data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray) -> Any:
    """The column decoded by numpy, or None where it is psycopg's to decode."""
    if not _DECODERS:
        _DECODERS.update(_decoders())
    decoder = _DECODERS.get(oid)
    if decoder is None:
        return None
    try:
        return decoder(data, body, sizes, valid)
    except _Unrepresentable:
        return None


def _loaded(
    oid: int, data: numpy.ndarray, body: numpy.ndarray, sizes: numpy.ndarray, valid: numpy.ndarray, field: Any
) -> Any:
    """The column decoded value by value by psycopg's binary loader for its type."""
    import pyarrow
    from psycopg.adapt import Transformer
    from psycopg.pq import Format

    load = Transformer().get_loader(oid, Format.BINARY).load
    raw = memoryview(data)
    values = [
        load(raw[start : start + size]) if ok else None
        for start, size, ok in zip(body.tolist(), sizes.tolist(), valid.tolist(), strict=True)
    ]
    return arrow_array(values, field.type) if field is not None else pyarrow.array(values)
