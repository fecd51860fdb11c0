import dataclasses
import datetime as dt
import enum
import typing
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

from pdip.conversion import ConversionError, Problem, check, convert, to_plain


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    price: Decimal


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    placed: dt.datetime
    due: dt.date
    colour: Colour
    lines: list[Line]
    tags: set[str] = dataclasses.field(default_factory=set)
    note: str | None = None
    attachment: bytes = b""
    at: dt.time = dt.time(9, 0)
    folder: Path = Path(".")


ORDER = Order(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    placed=dt.datetime(2026, 11, 22, 20, 30, tzinfo=dt.timezone.utc),
    due=dt.date(2026, 12, 1),
    colour=Colour.BLUE,
    lines=[Line("bolt", 3, Decimal("0.10")), Line("nut", 12, Decimal("1.25"))],
    tags={"rush"},
    attachment=b"\x00\xff",
    at=dt.time(17, 45),
    folder=Path("/srv/out"),
)


class RoundTripTest(unittest.TestCase):
    def test_to_plain_makes_json_ready_data_and_convert_reverses_it(self):
        plain = to_plain(ORDER)
        self.assertEqual(plain["id"], "12345678-1234-5678-1234-567812345678")
        self.assertEqual(plain["placed"], "2026-11-22T20:30:00+00:00")
        self.assertEqual(plain["lines"][0], {"sku": "bolt", "quantity": 3, "price": "0.10"})
        self.assertEqual(plain["colour"], "blue")
        self.assertEqual(plain["attachment"], "AP8=")
        self.assertEqual(convert(plain, Order), ORDER)

    def test_a_z_suffix_means_utc(self):
        self.assertEqual(convert("2026-01-02T03:04:05Z", dt.datetime).tzinfo, dt.timezone.utc)

    def test_plain_values_pass_through(self):
        self.assertEqual(to_plain({"a": [1, "x", None, True, 2.5]}), {"a": [1, "x", None, True, 2.5]})
        self.assertEqual(to_plain(Colour.RED), "red")
        self.assertEqual(to_plain((1, 2)), [1, 2])
        marker = object()
        self.assertIs(to_plain(marker), marker)


class StrictModeTest(unittest.TestCase):
    def test_every_bad_field_is_listed_with_its_path_and_expected_type(self):
        raw = to_plain(ORDER)
        raw["placed"] = "yesterday"
        raw["lines"][1]["quantity"] = "12"
        raw["lines"][1]["price"] = "cheap"
        raw["colour"] = "green"
        raw["extra"] = 1
        del raw["due"]
        with self.assertRaises(ConversionError) as raised:
            convert(raw, Order)
        described = [problem.describe() for problem in raised.exception.problems]
        self.assertEqual(
            described,
            [
                "placed: expected datetime, got 'yesterday'",
                "colour: expected one of 'red', 'blue', got 'green'",
                "lines[1].quantity: expected int, got '12'",
                "lines[1].price: expected Decimal, got 'cheap'",
                "extra: unknown field",
                "due: required (date)",
            ],
        )

    def test_json_types_are_not_stretched(self):
        for value, hint in [("5", int), (1, bool), (5, str), ("1.5", float), (True, int), (None, str), ([], dict)]:
            with self.subTest(value=value, hint=hint):
                with self.assertRaises(ConversionError):
                    convert(value, hint)

    def test_numbers_widen_where_no_precision_is_lost(self):
        self.assertEqual(convert(5, float), 5.0)
        self.assertEqual(convert(5.0, int), 5)
        self.assertEqual(convert(1.5, Decimal), Decimal("1.5"))
        self.assertIs(convert("RED", Colour), Colour.RED)

    def test_a_union_takes_the_first_member_that_fits(self):
        self.assertEqual(convert("5", int | str), "5")
        self.assertEqual(convert(5, int | str), 5)
        with self.assertRaisesRegex(ConversionError, r"expected int \| None, got 'x'"):
            convert("x", int | None)

    def test_a_mapping_converts_keys_and_values(self):
        self.assertEqual(convert({"a": "1"}, dict[str, int], lenient=True), {"a": 1})
        with self.assertRaisesRegex(ConversionError, r"\['a'\]: expected int"):
            convert({"a": "x"}, dict[str, int])

    def test_a_problem_describes_itself_with_an_optional_mask(self):
        problem = Problem("password", "str", 5)
        self.assertEqual(problem.describe(lambda path, value: "***"), "password: expected str, got ***")
        self.assertEqual(Problem("", "int").describe(), "expected int")


if __name__ == "__main__":
    unittest.main()


@dataclasses.dataclass
class Range:
    low: int
    high: int

    def __post_init__(self):
        if self.low > self.high:
            raise ValueError("low must not exceed high")


class CheckTest(unittest.TestCase):
    def test_values_of_the_declared_types_pass(self):
        self.assertEqual(check(ORDER, Order), [])
        self.assertEqual(check(3, float), [])
        self.assertEqual(check(None, int | None), [])
        self.assertEqual(check({"a": 1}, dict[str, int]), [])
        self.assertEqual(check((1, "a"), tuple[int, str]), [])
        self.assertEqual(check("x", typing.Annotated[str, "meta"]), [])
        self.assertEqual(check("low", typing.Literal["low", "high"]), [])
        self.assertEqual(check(object(), typing.Any), [])
        self.assertEqual(check(5, "ForwardReference"), [])

    def test_values_of_other_types_are_listed_with_their_paths(self):
        broken = dataclasses.replace(ORDER, placed="2026-01-01", lines=[Line("bolt", "3", Decimal("1"))])
        self.assertEqual(
            [problem.describe() for problem in check(broken, Order)],
            ["placed: expected datetime, got '2026-01-01'", "lines[0].quantity: expected int, got '3'"],
        )
        self.assertEqual(len(check(True, int)), 1)
        self.assertEqual(len(check({"a": "1"}, dict[str, int])), 1)
        self.assertEqual(len(check((1, 2), tuple[int, str])), 1)
        self.assertEqual(len(check("x", list[str])), 1)
        self.assertEqual(len(check("mid", typing.Literal["low", "high"])), 1)
        self.assertEqual(len(check("x", int | None)), 1)


class ConvertEdgeTest(unittest.TestCase):
    def test_annotated_and_unknown_hints(self):
        self.assertEqual(convert("5", typing.Annotated[int, "meta"], lenient=True), 5)
        self.assertEqual(convert("x", typing.Literal["x"]), "x")
        self.assertEqual(convert(3, typing.NewType("Id", int)), 3)
        self.assertEqual(convert([1], list), [1])
        self.assertEqual(convert({"a": 1}, dict), {"a": 1})

    def test_a_dataclass_that_rejects_its_values_is_a_problem_at_its_path(self):
        with self.assertRaisesRegex(ConversionError, r"\['range'\]: low must not exceed high"):
            convert({"range": {"low": 5, "high": 1}}, dict[str, Range])
        self.assertEqual(convert(Range(1, 2), Range), Range(1, 2))
        with self.assertRaisesRegex(ConversionError, "expected Range, got 5"):
            convert(5, Range)

    def test_text_that_is_not_json_or_not_the_right_shape(self):
        for value, hint in [("[1,", list[int]), ('{"a": 1}', list[int]), ("{oops", dict[str, int]), ("[1]", dict)]:
            with self.subTest(value=value, hint=hint):
                with self.assertRaises(ConversionError):
                    convert(value, hint, lenient=True)

    def test_enums_by_name_or_value_text(self):
        self.assertIs(convert(" Blue ", Colour), Colour.BLUE)
        with self.assertRaises(ConversionError):
            convert(7, Colour)
        with self.assertRaises(ConversionError):
            convert(b"x", uuid.UUID)


class TypeHintsReadOnceTest(unittest.TestCase):
    def test_a_dataclass_s_field_types_are_resolved_once_not_per_conversion(self):
        from unittest import mock

        from pdip.conversion import coercion

        coercion._type_hints.cache_clear()
        with mock.patch.object(typing, "get_type_hints", wraps=typing.get_type_hints) as resolve:
            for number in range(3):
                self.assertEqual(convert({"sku": "p", "quantity": number, "price": "1.5"}, Line).quantity, number)
        self.assertEqual(resolve.call_count, 1)
