"""The one type map: SQL (SQLAlchemy) <-> Arrow <-> a file's `types:` names."""

import unittest

import pyarrow
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from pdip.integrator.adapters.base import Target, WriteResult, prepare_target
from pdip.integrator.models import Connection
from pdip.integrator.types import (
    ColumnTypes,
    arrow_fields,
    arrow_to_sql,
    column_names,
    named_types,
    sql_to_arrow,
    sql_types,
)


class SqlToArrowTest(unittest.TestCase):
    def test_each_sql_type_has_its_arrow_type_never_narrower(self):
        cases = [
            (sa.Boolean(), pyarrow.bool_()),
            (sa.SmallInteger(), pyarrow.int16()),
            (sa.Integer(), pyarrow.int32()),
            (postgresql.INTEGER(), pyarrow.int32()),
            (sa.BigInteger(), pyarrow.int64()),
            (mysql.INTEGER(unsigned=True), pyarrow.int64()),
            (mysql.BIGINT(unsigned=True), pyarrow.uint64()),
            (sa.Float(precision=24), pyarrow.float32()),
            (sa.Float(), pyarrow.float64()),
            (sqlite.REAL(), pyarrow.float64()),
            (sa.Double(), pyarrow.float64()),
            (sa.Numeric(10, 2), pyarrow.decimal128(10, 2)),
            (sa.Numeric(50, 5), pyarrow.decimal256(50, 5)),
            (sa.DateTime(), pyarrow.timestamp("us")),
            (sa.DateTime(timezone=True), pyarrow.timestamp("us", tz="UTC")),
            (sa.Date(), pyarrow.date32()),
            (sa.Time(), pyarrow.time64("us")),
            (sa.Interval(), pyarrow.duration("us")),
            (sa.String(20), pyarrow.string()),
            (sa.Enum("a", "b"), pyarrow.string()),
            (sa.LargeBinary(), pyarrow.binary()),
        ]
        for kind, expected in cases:
            with self.subTest(kind=repr(kind)):
                self.assertEqual(sql_to_arrow(kind), expected)

    def test_types_arrow_has_no_faithful_form_for_are_left_to_the_values(self):
        for kind in (sa.Numeric(), postgresql.ARRAY(sa.Integer())):
            with self.subTest(kind=repr(kind)):
                self.assertIsNone(sql_to_arrow(kind))

    def test_uuid_and_json_travel_as_arrows_canonical_extension_types(self):
        self.assertEqual(sql_to_arrow(sa.Uuid()), pyarrow.uuid())
        self.assertEqual(sql_to_arrow(sa.JSON()), pyarrow.json_(pyarrow.string()))


class ArrowToSqlTest(unittest.TestCase):
    def test_each_arrow_type_has_its_generic_sql_type(self):
        cases = [
            (pyarrow.bool_(), sa.Boolean),
            (pyarrow.int8(), sa.SmallInteger),
            (pyarrow.uint8(), sa.SmallInteger),
            (pyarrow.int32(), sa.Integer),
            (pyarrow.uint16(), sa.Integer),
            (pyarrow.uint32(), sa.BigInteger),
            (pyarrow.int64(), sa.BigInteger),
            (pyarrow.float32(), sa.Float),
            (pyarrow.float64(), sa.Double),
            (pyarrow.string(), sa.Text),
            (pyarrow.large_string(), sa.Text),
            (pyarrow.binary(), sa.LargeBinary),
            (pyarrow.timestamp("ms"), sa.DateTime),
            (pyarrow.date32(), sa.Date),
            (pyarrow.time64("us"), sa.Time),
            (pyarrow.duration("s"), sa.Interval),
            (pyarrow.dictionary(pyarrow.int8(), pyarrow.string()), sa.Text),
        ]
        for kind, expected in cases:
            with self.subTest(kind=str(kind)):
                self.assertIs(type(arrow_to_sql(kind)), expected)

    def test_sizes_and_time_zones_are_kept(self):
        self.assertEqual(arrow_to_sql(pyarrow.decimal128(12, 3)).precision, 12)
        self.assertEqual(arrow_to_sql(pyarrow.decimal128(12, 3)).scale, 3)
        self.assertEqual(arrow_to_sql(pyarrow.uint64()).precision, 20)  # wider than any signed integer
        self.assertTrue(arrow_to_sql(pyarrow.timestamp("us", tz="Europe/Paris")).timezone)
        self.assertFalse(arrow_to_sql(pyarrow.timestamp("us")).timezone)

    def test_nested_and_null_types_are_left_to_the_values(self):
        self.assertIsNone(arrow_to_sql(pyarrow.null()))
        self.assertIsNone(arrow_to_sql(pyarrow.list_(pyarrow.int32())))


class DeclaredColumnsTest(unittest.TestCase):
    def test_a_sql_declaration_keeps_its_types_in_its_own_dialect_and_generic_ones_elsewhere(self):
        declared = ColumnTypes("postgresql", (postgresql.INTEGER(), postgresql.DOUBLE_PRECISION()), ("id", "price"))
        same = sql_types(declared, ["price", "id"], postgresql.dialect())
        self.assertIsInstance(same[0], postgresql.DOUBLE_PRECISION)
        self.assertIsInstance(same[1], postgresql.INTEGER)
        other = sql_types(declared, ["id", "price", "missing"], sqlite.dialect())
        self.assertEqual([type(kind) for kind in other], [sa.Integer, sa.Double, type(None)])

    def test_a_type_another_database_cannot_create_is_left_to_the_values(self):
        declared = ColumnTypes("mysql", (mysql.YEAR(),), ("year",))  # no generic form
        self.assertEqual(sql_types(declared, ["year"], sqlite.dialect()), [None])
        declared = ColumnTypes("postgresql", (postgresql.ARRAY(sa.Integer()),), ("tags",))  # not on SQLite
        self.assertEqual(sql_types(declared, ["tags"], sqlite.dialect()), [None])

    def test_a_single_precision_float_stays_single_and_any_other_is_double(self):
        schema = pyarrow.schema([("single", pyarrow.float32()), ("double", pyarrow.float64())])
        single, double = sql_types(schema, ["single", "double"], postgresql.dialect())
        self.assertIs(type(single), sa.Float)  # FLOAT: 4 bytes on MariaDB, 8 on PostgreSQL (never narrower)
        self.assertEqual(double.compile(dialect=postgresql.dialect()), "DOUBLE PRECISION")
        declared = ColumnTypes("sqlite", (sqlite.REAL(),), ("ratio",))  # 8 bytes in SQLite
        self.assertIsInstance(sql_types(declared, ["ratio"], postgresql.dialect())[0], sa.Double)

    def test_a_postgresql_double_as_reflected_is_a_double_mariadb_can_create(self):
        # reflection gives DOUBLE_PRECISION(precision=53); MySQL refuses a precision without a scale
        declared = ColumnTypes("postgresql", (postgresql.DOUBLE_PRECISION(precision=53),), ("price",))
        (kind,) = sql_types(declared, ["price"], mysql.dialect())
        self.assertEqual(kind.compile(dialect=mysql.dialect()), "DOUBLE")

    def test_an_unsized_decimal_keeps_its_fraction_on_mysql(self):
        declared = ColumnTypes("postgresql", (postgresql.NUMERIC(),), ("amount",))
        (kind,) = sql_types(declared, ["amount"], mysql.dialect())
        self.assertEqual((kind.precision, kind.scale), (38, 10))
        (kind,) = sql_types(declared, ["amount"], sqlite.dialect())
        self.assertIsNone(kind.precision)

    def test_an_arrow_declaration_gives_sql_types_and_its_own_fields(self):
        schema = pyarrow.schema(
            [
                pyarrow.field("id", pyarrow.int32(), nullable=False),
                ("nothing", pyarrow.null()),
                ("at", pyarrow.date32()),
            ]
        )
        kinds = sql_types(schema, ["id", "nothing", "at"], sqlite.dialect())
        self.assertEqual([type(kind) for kind in kinds], [sa.Integer, type(None), sa.Date])
        fields = arrow_fields(schema, ["at", "id", "nothing"])
        self.assertEqual(fields[0], pyarrow.field("at", pyarrow.date32()))
        self.assertEqual(fields[1], pyarrow.field("id", pyarrow.int32(), nullable=False))
        self.assertIsNone(fields[2])  # Arrow's null type: no value was ever seen, the values decide
        self.assertEqual(column_names(schema), ["id", "nothing", "at"])

    def test_a_sql_declaration_gives_arrow_fields(self):
        declared = ColumnTypes("sqlite", (sa.INTEGER(), sa.JSON()), ("id", "doc"))
        fields = arrow_fields(declared, ["id", "doc"])
        self.assertEqual(
            fields, [pyarrow.field("id", pyarrow.int32()), pyarrow.field("doc", pyarrow.json_(pyarrow.string()))]
        )
        self.assertEqual(arrow_fields(None, ["id"]), [None])
        self.assertEqual(column_names(None), [])

    def test_a_declaration_without_names_is_in_the_columns_order(self):
        declared = ColumnTypes("sqlite", (sa.INTEGER(), sa.TEXT()))
        self.assertEqual(
            arrow_fields(declared, ["a", "b"]),
            [pyarrow.field("a", pyarrow.int32()), pyarrow.field("b", pyarrow.string())],
        )

    def test_file_type_names_are_generic_sql_types_and_the_rest_the_default(self):
        declared = named_types(
            ["id", "amount", "at", "note"], {"id": "Int", "amount": "decimal", "at": "datetime"}, "text"
        )
        self.assertEqual(declared.dialect, "")
        self.assertEqual(declared.names, ("id", "amount", "at", "note"))
        self.assertEqual([type(kind) for kind in declared.types], [sa.BigInteger, sa.Numeric, sa.DateTime, sa.Text])
        self.assertTrue(declared.types[2].timezone)
        self.assertEqual(named_types(["x"], {}, None).types, (None,))


class _OldTarget(Target):
    """A target written before `prepare` took `types`."""

    def prepare(self, columns, create, truncate):
        self.prepared = (list(columns), create, truncate)

    def write(self, batch):
        return WriteResult(len(batch))


class _NewTarget(_OldTarget):
    def prepare(self, columns, create, truncate, **options):
        self.prepared = (list(columns), create, truncate, options)


class PrepareTargetTest(unittest.TestCase):
    def test_types_reach_a_target_that_takes_them_and_spare_one_that_does_not(self):
        declared = named_types(["id"], {"id": "int"}, None)
        old = _OldTarget(Connection("old", {}), None)
        prepare_target(old, ["id"], True, False, declared)
        self.assertEqual(old.prepared, (["id"], True, False))
        new = _NewTarget(Connection("new", {}), None)
        prepare_target(new, ["id"], True, False, declared)
        self.assertEqual(new.prepared, (["id"], True, False, {"types": declared}))
        prepare_target(new, ["id"], False, True)
        self.assertEqual(new.prepared, (["id"], False, True, {}))


if __name__ == "__main__":
    unittest.main()


class MicrosecondsInMySqlTest(unittest.TestCase):
    def test_a_mysql_table_created_for_datetimes_and_times_keeps_microseconds(self):
        from pdip.integrator.adapters.sql.tables import columns_for

        engine = sa.create_engine("mysql+pymysql://nobody@127.0.0.1/none")  # a dialect; never connected
        declared = ColumnTypes(  # as a MySQL source declares them: kept as they are, but for their precision
            "mysql",
            (sa.DateTime(timezone=True), sa.Time(), mysql.DATETIME(fsp=3), mysql.TIMESTAMP(), sa.Integer()),
            ("at", "clock", "given", "stamp", "id"),
        )
        columns = columns_for(list(declared.names), lambda: [], declared, engine)
        shown = [str(column.type.compile(dialect=engine.dialect)) for column in columns]
        self.assertEqual(shown, ["DATETIME(6)", "TIME(6)", "DATETIME(3)", "TIMESTAMP", "INTEGER"])
        sqlite_engine = sa.create_engine("sqlite://")
        self.assertEqual(type(columns_for(["at"], lambda: [], declared, sqlite_engine)[0].type), sa.DateTime)
