import datetime as dt
import enum
import json
import math
import unittest
import uuid
from decimal import Decimal

from pdip.conversion.tagged import decode, dumps, encode, loads, read_json, write_json

ROW = {
    "Id": uuid.UUID("00000000-0000-0000-0000-00000000002a"),
    "CreateUserTime": dt.datetime(2026, 11, 23, 1, 0, 4, 80166, tzinfo=dt.timezone.utc),
    "day": dt.date(2026, 11, 23),
    "total": Decimal("12.30"),
    "blob": b"\x00\xff",
    "count": 7,
    "ratio": 0.25,
    "name": "Zoë",
    "flag": True,
    "note": None,
}


class Colour(enum.Enum):
    RED = "red"


class TaggedDumpsTest(unittest.TestCase):
    def test_a_row_of_scalars_is_written_compactly_with_its_types_tagged(self):
        text = dumps(ROW)
        self.assertEqual(
            text,
            '{"Id":{"$uuid":"00000000-0000-0000-0000-00000000002a"},'
            '"CreateUserTime":{"$datetime":"2026-11-23T01:00:04.080166+00:00"},'
            '"day":{"$date":"2026-11-23"},"total":{"$decimal":"12.30"},"blob":{"$bytes":"AP8="},'
            '"count":7,"ratio":0.25,"name":"Zoë","flag":true,"note":null}',
        )
        self.assertEqual(loads(text), ROW)

    def test_the_row_path_and_the_general_path_write_the_same_text(self):
        self.assertEqual(dumps(ROW), write_json(encode(ROW)))

    def test_values_orjson_writes_itself_come_out_as_the_general_path_writes_them(self):
        # UUIDs, dates and naive or UTC datetimes are handed to orjson as they are; a datetime
        # in another zone keeps isoformat's text (orjson would drop an offset's seconds)
        odd = dt.timezone(dt.timedelta(hours=1, seconds=15))
        for value in (
            uuid.uuid4(),
            dt.date(1, 2, 3),
            dt.datetime(2026, 12, 6, 9, 0),
            dt.datetime(999, 1, 1, 0, 0, 0, 4, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 6, 1, 12, tzinfo=odd),
            dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        ):
            with self.subTest(value=value):
                self.assertEqual(dumps({"v": value}), write_json(encode({"v": value})))
                self.assertEqual(dumps(value), write_json(encode(value)))
                self.assertEqual(loads(dumps({"v": value})), {"v": value})

    def test_scalars_and_nested_values_round_trip(self):
        for value in (ROW["Id"], ROW["total"], 3, "text", None, [ROW, [1, 2]], {"$odd": 1}, {1: "one"}, (1, 2)):
            with self.subTest(value=value):
                self.assertEqual(loads(dumps(value)), value)

    def test_integers_beyond_64_bits_keep_every_digit(self):
        for number in (2**64, -(2**63) - 1, 10**30):
            with self.subTest(number=number):
                self.assertEqual(loads(dumps({"n": number})), {"n": number})
                self.assertEqual(loads(dumps([number])), [number])
                self.assertEqual(loads(dumps(number)), number)
        self.assertEqual(encode(2**64), {"$int": str(2**64)})
        self.assertEqual(encode(2**64 - 1), 2**64 - 1)  # JSON readers take unsigned 64-bit numbers

    def test_long_numbers_written_by_others_keep_every_digit(self):
        self.assertEqual(read_json('{"n": 123456789012345678901234567890}'), {"n": 123456789012345678901234567890})
        self.assertEqual(read_json(b"[-9223372036854775809, 1.5]"), [-9223372036854775809, 1.5])
        self.assertEqual(
            read_json('{"phone": "0012345678901234567890", "n": 1}'), {"phone": "0012345678901234567890", "n": 1}
        )

    def test_infinities_and_nan_are_tagged_rather_than_lost(self):
        self.assertEqual(dumps({"x": math.inf}), '{"x":{"$float":"inf"}}')
        self.assertEqual(loads(dumps({"x": -math.inf}))["x"], -math.inf)
        self.assertTrue(math.isnan(loads(dumps([math.nan]))[0]))
        self.assertTrue(math.isnan(loads(dumps(math.nan))))

    def test_text_written_by_the_standard_json_module_is_still_read(self):
        self.assertTrue(math.isnan(loads('{"x": NaN}')["x"]))
        self.assertEqual(loads(json.dumps({"t": {"$decimal": "1.5"}})), {"t": Decimal("1.5")})

    def test_lone_surrogates_fall_back_to_the_standard_encoder(self):
        text = dumps({"bad": "\ud800"})
        self.assertEqual(json.loads(text), {"bad": "\ud800"})
        self.assertEqual(read_json(write_json(["\ud800"])), ["\ud800"])

    def test_enums_subclasses_and_unknown_types(self):
        self.assertEqual(loads(dumps({"colour": Colour.RED})), {"colour": "red"})
        with self.assertRaisesRegex(TypeError, "object values cannot be written to a change log"):
            dumps({"x": object()})

    def test_decode_leaves_plain_data_alone(self):
        row, items = {"a": 1, "b": None}, [1, "b", None]
        self.assertIs(decode(row), row)
        self.assertIs(decode(items), items)
        self.assertIsNone(loads(None))
        self.assertEqual(loads(b'{"n":{"$int":"18446744073709551616"}}'), {"n": 2**64})


if __name__ == "__main__":
    unittest.main()


class RowDataTest(unittest.TestCase):
    def test_a_row_of_scalars_is_tagged_in_one_pass_and_anything_else_refused(self):
        from pdip.conversion.tagged import NotARow, row_data

        self.assertIsNone(row_data(None))
        row = {"id": 1, "at": dt.date(2026, 1, 2), "n": 1.5, "key": uuid.uuid4(), "t": Decimal("1.0")}
        self.assertEqual(write_json(row_data(row)), write_json(encode(row)))  # orjson writes what it is given
        for value in ([1], {"a": [1]}, {"$a": 1}, {1: 2}, {"a": {"b": 1}}):
            with self.subTest(value=value):
                with self.assertRaises(NotARow):
                    row_data(value)

    def test_a_row_of_text_ints_and_nulls_is_written_as_it_is_without_a_copy(self):
        from pdip.conversion.tagged import NotARow, row_data

        row = {"id": 1, "note": "a", "gone": None, "ok": True}
        self.assertIs(row_data(row), row)
        tagged_row = {"id": 1, "key": uuid.UUID(int=1)}
        self.assertIsNot(row_data(tagged_row), tagged_row)
        with self.assertRaises(NotARow):
            row_data({"$id": 1})

    def test_names_are_remembered_for_a_bounded_number_of_shapes(self):
        from pdip.conversion import tagged

        for index in range(1030):
            self.assertEqual(tagged.row_data({f"c{index}": index}), {f"c{index}": index})
        self.assertLessEqual(len(tagged._PLAIN_NAMES), 1024)
