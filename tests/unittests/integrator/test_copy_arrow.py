"""PostgreSQL binary COPY rows decoded into Arrow a column at a time (`copy_arrow`): the same
values as psycopg's own loaders give row by row, the declared types, and the same refusals."""

import datetime as dt
import json
import struct
import unittest
import uuid
from decimal import Decimal
from unittest import mock

import psycopg
import pyarrow
from psycopg.adapt import PyFormat, Transformer

from pdip.integrator.adapters.sql import copy_arrow, postgres
from pdip.integrator.batch import Batch

EPOCH = dt.datetime(2000, 1, 1)
# a type's OID and how one value is written in binary COPY
WIRE = {
    "bool": (16, lambda value: b"\x01" if value else b"\x00"),
    "bytea": (17, bytes),
    "name": (19, str.encode),
    "int8": (20, lambda value: struct.pack(">q", value)),
    "int2": (21, lambda value: struct.pack(">h", value)),
    "int4": (23, lambda value: struct.pack(">i", value)),
    "text": (25, str.encode),
    "oid": (26, lambda value: struct.pack(">I", value)),
    "json": (114, lambda value: json.dumps(value).encode()),
    "float4": (700, lambda value: struct.pack(">f", value)),
    "float8": (701, lambda value: struct.pack(">d", value)),
    "bpchar": (1042, str.encode),
    "varchar": (1043, str.encode),
    "date": (1082, lambda value: struct.pack(">i", (value - EPOCH.date()).days)),
    "time": (1083, lambda value: struct.pack(">q", (value.hour * 3600 + value.minute * 60 + value.second) * 10**6)),
    "timestamp": (1114, lambda value: struct.pack(">q", (value - EPOCH) // dt.timedelta(microseconds=1))),
    "timestamptz": (
        1184,
        lambda value: struct.pack(
            ">q", (value - EPOCH.replace(tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
        ),
    ),
    "numeric": (1700, lambda value: bytes(Transformer().get_dumper(value, PyFormat.BINARY).dump(value))),
    "uuid": (2950, lambda value: value.bytes),
    "jsonb": (3802, lambda value: b"\x01" + json.dumps(value).encode()),
}
VALUES = {
    "bool": [True, None, False],
    "bytea": [b"\x00\xff", b"", None],
    "name": ["pg_class", None, ""],
    "int8": [2**63 - 1, -(2**63), None],
    "int2": [None, 32767, -32768],
    "int4": [2**31 - 1, None, -(2**31)],
    "text": ["héllo wörld ✓ 日本語 🚀", "", None],
    "oid": [4_294_967_295, None, 0],
    "json": [{"a": [1, 2]}, None, "text"],
    "float4": [1.5, None, -2.0],
    "float8": [0.1, -1.5e300, None],
    "bpchar": ["ab  ", None, "x"],
    "varchar": [None, "v", ""],
    "date": [dt.date(2024, 2, 29), dt.date(1900, 1, 1), None],
    "time": [dt.time(12, 30, 15), None, dt.time(0, 0)],
    "timestamp": [dt.datetime(2026, 1, 1, 12, 30, 15, 123456), None, dt.datetime(1970, 1, 1)],
    "timestamptz": [
        None,
        dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.timezone.utc),
        EPOCH.replace(tzinfo=dt.timezone.utc),
    ],
    "numeric": [Decimal("12345678901234.5678"), None, Decimal("-0.0001")],
    "uuid": [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None, uuid.UUID(int=0)],
    "jsonb": [None, {"b": True}, [1]],
}


def field(payload: bytes | None) -> bytes:
    return struct.pack(">i", -1) if payload is None else struct.pack(">i", len(payload)) + payload


def messages(kinds: list[str], rows: list[tuple]) -> list[bytes]:
    """Binary COPY rows, one message each, as the server sends them."""
    return [
        struct.pack(">h", len(kinds))
        + b"".join(
            field(None if value is None else WIRE[kind][1](value)) for kind, value in zip(kinds, row, strict=True)
        )
        for row in rows
    ]


def decoded(kinds: list[str], rows: list[tuple], fields=None) -> pyarrow.RecordBatch:
    oids = [WIRE[kind][0] for kind in kinds]
    return copy_arrow.record_batch(
        postgres.CopyRows.of(messages(kinds, rows)), oids, kinds, fields or [None] * len(kinds)
    )


def by_psycopg(kinds: list[str], rows: list[tuple]) -> list[tuple]:
    """The same rows decoded the general way: psycopg's binary loaders, row by row."""
    payload = postgres.HEADER + b"".join(messages(kinds, rows)) + postgres.TRAILER
    layout = tuple(WIRE[kind][0] for kind in kinds)
    return postgres.decode_copy_binary(Batch.raw(kinds, postgres.RAW_FORMAT, payload, len(rows), layout=layout))


class CopyArrowTest(unittest.TestCase):
    def test_every_type_decodes_to_the_values_psycopg_loads(self):
        kinds = list(VALUES)
        rows = list(zip(*VALUES.values(), strict=True))
        batch = decoded(kinds, rows)
        self.assertEqual(Batch.from_arrow(batch).rows, by_psycopg(kinds, rows))

    def test_each_wire_type_has_its_arrow_type(self):
        kinds = list(VALUES)
        types = dict(zip(kinds, decoded(kinds, list(zip(*VALUES.values(), strict=True))).schema.types, strict=True))
        self.assertEqual(types["int4"], pyarrow.int32())
        self.assertEqual(types["int2"], pyarrow.int16())
        self.assertEqual(types["float4"], pyarrow.float32())
        self.assertEqual(types["timestamp"], pyarrow.timestamp("us"))
        self.assertEqual(types["timestamptz"], pyarrow.timestamp("us", tz="UTC"))
        self.assertEqual(types["date"], pyarrow.date32())
        self.assertEqual(types["uuid"], pyarrow.uuid())
        self.assertEqual(types["jsonb"], pyarrow.json_())
        self.assertEqual(types["bytea"], pyarrow.binary())
        self.assertEqual(types["oid"], pyarrow.int64())

    def test_a_declared_type_wins_over_the_wire_s(self):
        declared = [pyarrow.field("int4", pyarrow.int64()), pyarrow.field("numeric", pyarrow.decimal128(20, 4))]
        batch = decoded(["int4", "numeric"], [(1, Decimal("2.5")), (None, None)], declared)
        self.assertEqual(batch.schema, pyarrow.schema(declared))
        self.assertEqual(batch.column(1).to_pylist(), [Decimal("2.5000"), None])

    def test_a_row_of_nulls_and_no_rows_at_all(self):
        kinds = ["int4", "text", "bool", "uuid"]
        self.assertEqual(decoded(kinds, [(None,) * 4]).to_pylist(), [dict.fromkeys(kinds)])
        self.assertEqual(decoded(kinds, []).num_rows, 0)

    def test_a_date_time_or_timestamp_python_does_not_hold_is_refused_as_psycopg_refuses_it(self):
        ten_thousand = (dt.datetime(9999, 12, 31) - EPOCH) // dt.timedelta(microseconds=1) + 86_400 * 10**6
        for kind, beyond in (
            ("date", 2**31 - 1),  # infinity
            ("timestamp", -(2**63)),  # -infinity
            ("timestamptz", ten_thousand),  # the year 10000
            ("time", 86_400 * 10**6),  # 24:00:00
        ):
            with self.subTest(kind=kind):
                width = ">i" if kind == "date" else ">q"
                row = struct.pack(">h", 1) + field(struct.pack(width, beyond))
                with self.assertRaises(psycopg.DataError):
                    copy_arrow.record_batch(postgres.CopyRows.of([row]), [WIRE[kind][0]], [kind], [None])

    def test_text_that_is_not_utf8_is_refused(self):
        row = struct.pack(">h", 1) + field(b"\xff\xfe")
        with self.assertRaises(pyarrow.ArrowInvalid):
            copy_arrow.record_batch(postgres.CopyRows.of([row]), [25], ["text"], [None])

    def test_a_jsonb_of_an_unknown_version_is_left_to_psycopg_which_refuses_it(self):
        row = struct.pack(">h", 1) + field(b"\x02{}")
        with self.assertRaises(psycopg.DataError):
            copy_arrow.record_batch(postgres.CopyRows.of([row]), [3802], ["doc"], [None])

    def test_text_past_what_32_bit_offsets_reach_is_left_to_psycopg(self):
        rows = [("a", b"\x01"), (None, b"")]
        with mock.patch.object(copy_arrow, "_OFFSETS_UP_TO", 8):
            batch = decoded(["text", "bytea"], rows)
        self.assertEqual(batch.to_pylist(), [{"text": "a", "bytea": b"\x01"}, {"text": None, "bytea": b""}])

    def test_rows_of_another_shape_are_refused(self):
        two = messages(["int4", "int4"], [(1, 2)])
        with self.assertRaisesRegex(ValueError, "do not have 1 fields"):
            copy_arrow.record_batch(postgres.CopyRows.of(two), [23], ["a"], [None])
        with self.assertRaisesRegex(ValueError, "do not fill them"):
            copy_arrow.record_batch(postgres.CopyRows.of([two[0] + b"\x00"]), [23, 23], ["a", "b"], [None, None])
