"""The one lenient reading of a bool, and the one JSON fallback, shared by configuration, DTOs,
file columns and the Kafka and JSON Lines writers."""

import datetime as dt
import json
import unittest
from decimal import Decimal

from pdip.conversion import ConversionError, convert, json_default, to_bool
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


if __name__ == "__main__":
    unittest.main()
