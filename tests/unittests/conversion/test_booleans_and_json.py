"""The one lenient reading of a bool, and the one JSON fallback, shared by configuration, DTOs,
file columns and the Kafka and JSON Lines writers."""

import dataclasses
import datetime as dt
import enum
import json
import unittest
import uuid
from decimal import Decimal

from pdip.conversion import ConversionError, convert, json_bytes, json_default, to_bool
from pdip.conversion.coercion import FALSE_TEXTS, TRUE_TEXTS
from pdip.integrator.adapters.file.values import VALUE_TYPES


class ToBoolTest(unittest.TestCase):
    def test_these_texts_are_true_and_these_false_in_any_case_with_spaces_around(self):
        self.assertEqual(sorted(TRUE_TEXTS), ["1", "on", "t", "true", "y", "yes"])
        self.assertEqual(sorted(FALSE_TEXTS), ["0", "f", "false", "n", "no", "off"])
        self.assertEqual([to_bool(text) for text in (" TRUE", "Yes ", "On", "t", "Y", "1")], [True] * 6)
        self.assertEqual([to_bool(text) for text in ("false", "NO", " off", "F", "n", "0")], [False] * 6)

    def test_bools_and_the_ints_zero_and_one_are_read_and_nothing_else(self):
        self.assertEqual([to_bool(True), to_bool(False), to_bool(1), to_bool(0)], [True, False, True, False])
        for value in ("maybe", "", 2, 1.0, None):
            with self.subTest(value=value), self.assertRaisesRegex(ValueError, "expected a bool .*t/f, y/n"):
                to_bool(value)

    def test_lenient_conversion_and_file_columns_read_bools_the_same_way(self):
        self.assertIs(VALUE_TYPES["bool"], to_bool)
        self.assertIs(VALUE_TYPES["boolean"], to_bool)
        self.assertEqual([convert(text, bool, lenient=True) for text in ("t", "off", " Y ")], [True, False, True])

    def test_strict_conversion_takes_only_json_bools(self):
        with self.assertRaises(ConversionError):
            convert("true", bool)
        self.assertIs(convert(True, bool), True)


class JsonDefaultTest(unittest.TestCase):
    def test_what_json_lacks_is_written_as_to_plain_writes_it(self):
        encode = json.JSONEncoder(default=json_default).encode
        self.assertEqual(
            encode({"at": dt.date(2024, 5, 1), "amount": Decimal("1.50")}), '{"at": "2024-05-01", "amount": "1.50"}'
        )

    def test_a_value_to_plain_cannot_make_plain_is_refused(self):
        with self.assertRaisesRegex(TypeError, "Object of type object is not JSON serializable"):
            json_default(object())


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


@dataclasses.dataclass
class Point:
    x: int
    at: dt.datetime


class JsonBytesTest(unittest.TestCase):
    """orjson writes, with the values the standard encoder with `json_default` writes."""

    standard = staticmethod(json.JSONEncoder(separators=(",", ":"), default=json_default).encode)

    def test_a_row_of_every_kind_of_value_reads_back_as_the_standard_encoders_text(self):
        row = {
            "id": 7,
            "name": "café ✓",
            "price": 0.1,
            "active": True,
            "parent": None,
            "created": dt.datetime(2026, 1, 2, 3, 4, 5, 6),
            "zoned": dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "day": dt.date(2026, 1, 2),
            "time": dt.time(3, 4),
            "amount": Decimal("1.50"),
            "uuid": uuid.UUID(int=1),
            "colour": Colour.RED,
            "size": Size.LARGE,
            "point": Point(1, dt.datetime(2026, 1, 1)),
            "tags": ["a", 1, None],
        }
        written = json_bytes(row)
        self.assertIsInstance(written, bytes)
        self.assertEqual(json.loads(written), json.loads(self.standard(row)))
        self.assertEqual(json.loads(written)["zoned"], "2026-01-02T00:00:00+02:00")
        self.assertEqual(json.loads(written)["point"], {"x": 1, "at": "2026-01-01T00:00:00"})
        self.assertNotIn(b" ", written.replace(b"caf", b"").split(b'"name"')[0])  # compact

    def test_what_orjson_refuses_or_writes_otherwise_is_the_standard_encoders(self):
        for row in (
            {"big": 2**70},
            {"surrogate": "\ud800"},
            {"nan": float("nan"), "none": None},
            {"deep": [{"inf": float("-inf")}]},
            (1, float("inf")),
        ):
            with self.subTest(row=row):
                self.assertEqual(json_bytes(row), self.standard(row).encode())
        self.assertEqual(json_bytes({"big": 2**70}), b'{"big":1180591620717411303424}')
        self.assertEqual(json_bytes({"nan": float("nan")}), b'{"nan":NaN}')

    def test_a_null_of_a_none_stays_on_the_fast_path(self):
        self.assertEqual(json_bytes({"none": None, "x": 1.5}), b'{"none":null,"x":1.5}')

    def test_what_neither_can_write_is_refused(self):
        with self.assertRaisesRegex(TypeError, "Object of type object is not JSON serializable"):
            json_bytes({"thing": object()})


if __name__ == "__main__":
    unittest.main()
