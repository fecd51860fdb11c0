"""The wire formats of the SQL fast paths, without a server: MariaDB's LOAD DATA text, binary
COPY data decoded, key ranges and positions."""

import datetime as dt
import struct
import unittest
from decimal import Decimal

import sqlalchemy as sa

from pdip.integrator.adapters.sql import mysql as sql_mysql
from pdip.integrator.adapters.sql import partitions as sql_partitions
from pdip.integrator.adapters.sql import postgres as sql_postgres
from pdip.integrator.batch import Batch


class LoadDataTextTest(unittest.TestCase):
    def test_each_type_has_its_text_and_nulls_are_backslash_n(self):
        moment = dt.datetime(2026, 3, 1, 12, 30, 15, 250)
        rows = [
            (1, "plain", 1.5, Decimal("2.50"), True, moment, dt.date(2026, 3, 1), dt.time(8, 15)),
            (None, None, None, None, False, None, None, None),
        ]
        self.assertEqual(
            sql_mysql._text(rows).decode(),
            "1\tplain\t1.5\t2.50\t1\t2026-03-01 12:30:15.000250\t2026-03-01\t08:15:00\n"
            "\\N\t\\N\t\\N\t\\N\t0\t\\N\t\\N\t\\N\n",
        )

    def test_text_is_escaped_only_when_it_needs_to_be(self):
        rows = [("tab\there",), ("back\\slash",), ("new\nline\r",), ("nul\0",), (None,)]
        self.assertEqual(
            sql_mysql._text(rows).decode(),
            "tab\\there\nback\\\\slash\nnew\\nline\\r\nnul\\0\n\\N\n",
        )

    def test_aware_datetimes_and_mixed_columns_go_value_by_value(self):
        aware = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        rows = [(aware, 1), (None, "one"), (aware.replace(tzinfo=None), None)]
        self.assertEqual(
            sql_mysql._text(rows).decode(),
            "2026-03-01 12:00:00\t1\n\\N\tone\n2026-03-01 12:00:00\t\\N\n",
        )

    def test_values_without_a_text_form_are_refused(self):
        with self.assertRaises(sql_mysql._NoTextForm):
            sql_mysql._text([(b"bytes",)])
        with self.assertRaises(sql_mysql._NoTextForm):
            sql_mysql._text([({"a": 1},), (None,)])


def _copy_payload(rows: list[list[bytes | None]]) -> bytes:
    data = [sql_postgres.HEADER]
    for row in rows:
        data.append(struct.pack(">h", len(row)))
        for field in row:
            data.append(struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field)
    return b"".join([*data, sql_postgres.TRAILER])


class CopyBinaryTest(unittest.TestCase):
    def test_binary_copy_data_decodes_with_psycopg_loaders(self):
        payload = _copy_payload([[struct.pack(">i", 7), b"seven", b"\x01"], [struct.pack(">i", 8), None, b"\x00"]])
        batch = Batch.raw(["id", "name", "ok"], "postgresql-copy-binary", payload, 2, layout=(23, 25, 16))
        self.assertEqual(batch.rows, [(7, "seven", True), (8, None, False)])
        self.assertEqual(sql_postgres.fields(payload[len(sql_postgres.HEADER) :])[1].tobytes(), b"seven")

    def test_data_without_the_signature_is_refused(self):
        batch = Batch.raw(["id"], "postgresql-copy-binary", b"not copy data at all", 1, layout=(23,))
        with self.assertRaisesRegex(ValueError, "PGCOPY signature"):
            batch.to_dicts()

    def test_text_and_varchar_are_one_type_for_binary_copy_and_integers_of_other_widths_are_not(self):
        self.assertTrue(sql_postgres.compatible((23, 25, 1043), (23, 1043, 25)))
        self.assertFalse(sql_postgres.compatible((23,), (20,)))
        self.assertFalse(sql_postgres.compatible((23, 25), (23,)))


class KeyRangeTest(unittest.TestCase):
    def test_ranges_cover_every_integer_and_the_ends_stay_open(self):
        self.assertEqual(sql_partitions.split(1, 10, 3), [(None, 5), (5, 9), (9, None)])
        self.assertEqual(sql_partitions.split(5, 5, 4), [(None, None)])
        self.assertEqual(sql_partitions.split(0, 2, 8), [(None, 1), (1, 2), (2, None)])
        self.assertEqual(sql_partitions.split(-10, 9, 2), [(None, 0), (0, None)])

    def test_range_conditions_and_positions(self):
        column = sa.column("k")
        self.assertEqual(str(sql_partitions.within(column, {"low": None, "high": None})), "true")
        self.assertEqual(str(sql_partitions.within(column, {"low": None, "high": 5})), "k < :k_1")  # an index condition
        self.assertEqual(str(sql_partitions.within(column, {"nulls": True})), "k IS NULL")  # NULL keys: their own
        self.assertEqual(str(sql_partitions.within(column, {"low": 5, "high": None})), "k >= :k_1")
        self.assertEqual(str(sql_partitions.after([column, sa.column("j")], [1, 2])), "(k, j) > (:param_1, :param_2)")
        self.assertEqual(sql_partitions.resume_point(None), (None, 0))
        self.assertEqual(sql_partitions.resume_point(40), (None, 40))
        self.assertEqual(sql_partitions.resume_point({"key": [3], "rows": 9}), ([3], 9))
        self.assertEqual(sql_partitions.positions(None, 10)(5, ("a",)), 15)
        self.assertEqual(sql_partitions.positions([1], 10)(5, ("a", 7)), {"key": [7], "rows": 15})
        self.assertFalse(sql_partitions.is_integer(True))


if __name__ == "__main__":
    unittest.main()
