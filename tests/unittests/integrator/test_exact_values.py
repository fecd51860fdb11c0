"""`adapters/sql/exact.py` on its own: which values each column check objects to, and which
columns it leaves alone because the source's declared type rules the problem out."""

import unittest
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from pdip.integrator.adapters.sql import exact
from pdip.integrator.types import ColumnTypes

TABLE = sa.Table(
    "t",
    sa.MetaData(),
    sa.Column("amount", sa.Numeric(8, 2)),
    sa.Column("n", sa.Integer),
    sa.Column("at", sa.DateTime),
    sa.Column("price", sa.Float),
    sa.Column("loose", sa.Numeric),
)
COLUMNS = ["amount", "n", "at", "price", "loose"]


def reasons(dialect, rows, declared=None):
    checks = exact.column_checks(TABLE, COLUMNS, dialect, declared)
    kept, refused = exact.refused(rows, checks)
    return len(kept), [reason for _, reason in refused]


class ExactValuesTest(unittest.TestCase):
    def test_decimal_places_are_counted_on_the_value_a_number_or_its_text_stands_for(self):
        fine = [Decimal("1.50"), Decimal("1.500"), 2, 0.1, "3.10", " 4 ", "abc", Decimal("NaN"), float("inf"), b"1.005"]
        kept, refused = reasons(postgresql.dialect(), [(value, None, None, None, None) for value in fine])
        self.assertEqual((kept, refused), (len(fine), []))
        kept, refused = reasons(postgresql.dialect(), [(1.005, None, None, None, None), ("2.001", 1, None, 1.23, 1)])
        self.assertEqual(kept, 0)
        self.assertEqual(
            refused,
            [
                "column 'amount' is NUMERIC(8, 2): 1.005 has more than 2 decimal places and would be rounded",
                "column 'amount' is NUMERIC(8, 2): 2.001 has more than 2 decimal places and would be rounded",
            ],
        )

    def test_whole_numbers_booleans_and_fractions_for_an_integer_column(self):
        rows = [(None, value, None, None, None) for value in (True, 2.0, Decimal("3"), "4", "x", 5)]
        self.assertEqual(reasons(mysql.dialect(), rows), (6, []))
        self.assertEqual(
            reasons(mysql.dialect(), [(None, "1.5", None, None, None)]),
            (0, ["column 'n' is INTEGER: 1.5 is not a whole number and would be rounded"]),
        )

    def test_a_zone_in_the_text_of_a_postgresql_timestamp_without_one(self):
        rows = [(None, None, value, None, None) for value in ("2026-01-01 10:00", "2026-01-01", 7)]
        self.assertEqual(reasons(postgresql.dialect(), rows), (3, []))
        for text in ("2026-01-01 10:00:00+02:00", "2026-01-01T10:00Z", "2026-01-01 10:00:00.5 Europe/Paris"):
            with self.subTest(text):
                self.assertIn("would be dropped", reasons(postgresql.dialect(), [(None, None, text, None, None)])[1][0])
        self.assertEqual(reasons(mysql.dialect(), [(None, None, "2026-01-01 10:00+02", None, None)]), (1, []))

    def test_sqlite_refuses_only_decimals_a_double_does_not_hold(self):
        rows = [
            (Decimal("1.005"), 1.5, "2026-01-01 10:00+02", None, None),
            (Decimal("0.1000000000000000055511151231257827"), 1, 1, 1, 1),
        ]
        kept, refused = reasons(sqlite.dialect(), rows)
        self.assertEqual(kept, 1)
        self.assertEqual(
            refused,
            ["SQLite keeps 15 significant digits of a decimal: 0.1000000000000000055511151231257827 would be 0.1"],
        )

    def test_sqlite_date_and_time_columns_take_iso_8601_text_only(self):
        kept, refused = reasons(sqlite.dialect(), [(None, None, "tomorrow", None, None), (None, None, 1.5, None, None)])
        self.assertEqual((kept, refused), (1, ["column 'at' is DATETIME: 'tomorrow' is no ISO 8601 date and time"]))

    def test_a_declared_source_type_that_rules_the_problem_out_leaves_the_column_alone(self):
        declared = ColumnTypes(
            "postgresql", (sa.Numeric(10, 2), sa.BigInteger(), sa.DateTime(), sa.Float(), sa.Integer()), tuple(COLUMNS)
        )
        self.assertEqual(exact.column_checks(TABLE, COLUMNS, postgresql.dialect(), declared), [])
        wider = ColumnTypes("postgresql", (sa.Numeric(10, 3), sa.Numeric(10, 0)), ("amount", "n"))
        checks = exact.column_checks(TABLE, COLUMNS, postgresql.dialect(), wider)
        self.assertEqual([index for index, _ in checks], [0, 1, 2, 3])  # 3: a float column, of a type not declared
        self.assertEqual(exact.more_places(checks).pattern, rb"\.(?<!:\d\d\.)\d{3}")
        self.assertTrue(exact.zone_in_text(checks))
        self.assertIsNone(exact.more_places(exact.column_checks(TABLE, ["n"], postgresql.dialect(), None)))

    def test_columns_the_table_lacks_are_not_checked(self):
        self.assertEqual(exact.column_checks(TABLE, ["other"], postgresql.dialect(), None), [])
        self.assertEqual(exact.refused([(1,)], []), ([(1,)], []))


FLOATS = sa.Table("f", sa.MetaData(), sa.Column("d", sa.Double), sa.Column("r", sa.REAL), sa.Column("m", mysql.FLOAT))


def float_reasons(dialect, values, column="d", declared=None):
    checks = exact.column_checks(FLOATS, [column], dialect, declared)
    kept, refused = exact.refused([(value,) for value in values], checks)
    return len(kept), [reason for _, reason in refused]


class FloatColumnTest(unittest.TestCase):
    def test_an_int_a_decimal_or_numeric_text_a_double_would_round_is_refused_naming_what_it_would_be(self):
        fine = [2**53, -(2**53), 2**60, 0.1, 0.30000000000000004, Decimal("0.1"), "0.1", "1e5", True, "x", "NaN", 7]
        self.assertEqual(float_reasons(postgresql.dialect(), fine), (len(fine), []))
        rounded = [2**53 + 1, Decimal("0.1000000000000000055511151231257827"), "9007199254740993", "1e400"]
        self.assertEqual(
            float_reasons(postgresql.dialect(), rounded),
            (
                0,
                [
                    "column 'd' is DOUBLE PRECISION: 9007199254740993 would be stored as 9007199254740992",
                    "column 'd' is DOUBLE PRECISION: 0.1000000000000000055511151231257827 would be stored as 0.1",
                    "column 'd' is DOUBLE PRECISION: 9007199254740993 would be stored as 9007199254740992",
                    "column 'd' is DOUBLE PRECISION: 1e400 is beyond its range",
                ],
            ),
        )
        self.assertEqual(float_reasons(sqlite.dialect(), [2**53 + 1, 2**24 + 1], "r")[0], 1)  # SQLite's REAL: 8 bytes

    def test_a_4_byte_column_holds_24_bits_and_takes_floats_as_they_narrow(self):
        for dialect, column in ((postgresql.dialect(), "r"), (mysql.dialect(), "m")):
            with self.subTest(dialect.name):
                kept, refused = float_reasons(
                    dialect, [2**24, 16777217, "3.14159265", 3.14159265, "0.1", 2**30], column
                )
                self.assertEqual(kept, 4)
                self.assertEqual(
                    [reason.split(": ", 1)[1] for reason in refused],
                    ["16777217 would be stored as 16777216", "3.14159265 would be stored as 3.1415927"],
                )
        self.assertEqual(
            float_reasons(mysql.dialect(), [1e39, "1e39"], "m"), (1, ["column 'm' is FLOAT: 1e39 is beyond its range"])
        )

    def test_a_float_or_narrow_integer_source_into_a_float_column_is_not_checked(self):
        import pyarrow

        def declared_by_sql(kind, column):
            return ColumnTypes("x", (kind,), (column,))

        def declared_by_arrow(kind, column):
            return pyarrow.schema([(column, kind)])

        for declare, declared, column, checked in (
            (declared_by_sql, sa.Float(), "d", False),
            (declared_by_sql, sa.Float(), "r", False),
            (declared_by_sql, sa.Integer(), "d", False),
            (declared_by_sql, sa.Integer(), "r", True),
            (declared_by_sql, sa.SmallInteger(), "r", False),
            (declared_by_sql, sa.BigInteger(), "d", True),
            (declared_by_sql, sa.Numeric(15, 2), "d", False),
            (declared_by_sql, sa.Numeric(16, 2), "d", True),
            (declared_by_sql, sa.Numeric(6, 2), "r", False),
            (declared_by_sql, sa.String(), "d", True),
            (declared_by_arrow, pyarrow.float64(), "d", False),
            (declared_by_arrow, pyarrow.float32(), "r", False),
            (declared_by_arrow, pyarrow.int32(), "d", False),
            (declared_by_arrow, pyarrow.uint16(), "r", False),
            (declared_by_arrow, pyarrow.int32(), "r", True),
            (declared_by_arrow, pyarrow.int64(), "d", True),
            (declared_by_arrow, pyarrow.string(), "d", True),
        ):
            with self.subTest(declared=declared, column=column):
                checks = exact.column_checks(FLOATS, [column], postgresql.dialect(), declare(declared, column))
                self.assertEqual(bool(checks), checked)

    def test_csv_text_is_decoded_only_when_it_may_hold_a_number_of_more_digits_than_the_column_holds(self):
        double = exact.more_digits(exact.column_checks(FLOATS, ["d"], postgresql.dialect(), None))
        single = exact.more_digits(exact.column_checks(FLOATS, ["r"], postgresql.dialect(), None))
        self.assertIsNone(exact.more_digits(exact.column_checks(TABLE, ["n"], postgresql.dialect(), None)))
        for text, found_double, found_single in (
            (b"1,0.1,3.5,2026-01-01\n", False, True),  # a date's year and day: four digits in a row
            (b"1,0.5,12.25\n", False, False),
            (b"1,1234567,12.345\n", False, True),
            (b"1,0.1000000000000000055511151231257827\n", True, True),
            (b"1,12345678.12345678\n", True, True),
            (b"1,1234567.123456\n", False, True),
        ):
            with self.subTest(text):
                self.assertEqual((double(text), single(text)), (found_double, found_single))

    def test_a_change_of_ints_only_is_looked_at_when_a_float_column_could_round_one(self):
        checks = exact.named_checks(FLOATS, postgresql.dialect())
        self.assertIsNone(exact.changed_value({"d": 2**53, "r": None}, checks))
        self.assertIsNone(
            exact.changed_value({"amount": 2**60, "n": 1}, exact.named_checks(TABLE, postgresql.dialect()))
        )
        self.assertIsNone(exact.changed_value({"d": 2**60}, []))
        self.assertEqual(
            exact.changed_value({"d": 2**53 + 1, "r": 1}, checks),
            "column 'd' is DOUBLE PRECISION: 9007199254740993 would be stored as 9007199254740992",
        )


if __name__ == "__main__":
    unittest.main()


class InstantDigitsTest(unittest.TestCase):
    """A timestamp column keeps so many digits of a second; a finer instant is refused, not cut."""

    def checks(self, column: sa.types.TypeEngine, dialect: sa.Dialect, declared: sa.types.TypeEngine) -> list:
        table = sa.Table("t", sa.MetaData(), sa.Column("at", column))
        return exact.column_checks(table, ["at"], dialect, ColumnTypes("x", (declared,), ("at",)))

    def test_the_digits_a_column_keeps_decide_and_an_unknown_database_is_not_looked_at(self):
        import datetime as dt

        from sqlalchemy.dialects import mssql

        (check,) = [
            found for _, found in self.checks(postgresql.TIMESTAMP(precision=3), postgresql.dialect(), sa.DateTime())
        ]
        self.assertIsNone(check(dt.datetime(2026, 1, 1, 10, 0, 0, 250_000)))
        self.assertEqual(
            check(dt.datetime(2026, 1, 1, 10, 0, 0, 250_500)),
            "column 'at' keeps 3 digits of a second: 2026-01-01 10:00:00.250500 would be rounded",
        )
        self.assertEqual(self.checks(sa.DateTime(), postgresql.dialect(), sa.DateTime()), [])  # six and six
        self.assertEqual(self.checks(sa.DateTime(), mssql.dialect(), sa.DateTime()), [])  # not known there
