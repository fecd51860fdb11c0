"""SQL Server and Oracle, which no test server here runs: the statements pdip sends them,
compiled by each dialect (CREATE TABLE from the type map, the bulk insert, MERGE, the positions
table, the DDL of schema changes and of `write: replace`)."""

import unittest

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, oracle
from sqlalchemy.schema import CreateTable

from pdip.configuration import DatabaseConfig
from pdip.integrator.adapters.sql import partitions
from pdip.integrator.adapters.sql.dialects import dialect_of, multi_row_inserts
from pdip.integrator.adapters.sql.positions import POSITIONS
from pdip.integrator.adapters.sql.tables import columns_for
from pdip.integrator.errors import OperationError
from pdip.integrator.types import TYPE_MAP, ColumnTypes


def server() -> sa.Dialect:
    made = mssql.dialect()
    made.server_version_info, made.deprecate_large_types, made._supports_nvarchar_max = (16,), True, True
    return made


def database() -> sa.Dialect:
    made = oracle.dialect()
    made.server_version_info, made._supports_bool = (23,), True
    return made


class _Engine:
    """What `columns_for` asks of an engine: its dialect."""

    def __init__(self, dialect):
        self.dialect = dialect


def items() -> sa.Table:
    return sa.Table(
        "items",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Unicode(40)),
        sa.Column("price", sa.Numeric(12, 2)),
    )


class CreateTableTest(unittest.TestCase):
    def created(self, dialect: sa.Dialect) -> str:
        names = [f"c{index}" for index in range(len(TYPE_MAP))]
        declared = ColumnTypes("", tuple(row.sql for row in TYPE_MAP), tuple(names))
        columns = columns_for(names, list, declared, _Engine(dialect))
        return str(CreateTable(sa.Table("every_type", sa.MetaData(), *columns)).compile(dialect=dialect))

    def test_sql_server_gets_unicode_text_and_microsecond_timestamps(self):
        sql = self.created(server())
        for expected in ("NVARCHAR(max)", "NVARCHAR(40)", "DATETIME2(6)", "DATETIMEOFFSET", "BIT", "VARBINARY(max)"):
            self.assertIn(expected, sql)
        self.assertNotIn(" VARCHAR", sql)

    def test_oracle_gets_timestamps_ieee_floats_and_a_time_as_text(self):
        sql = self.created(database())
        for expected in ("TIMESTAMP WITH TIME ZONE", "BINARY_DOUBLE", "NUMBER(19)", "VARCHAR2(15 CHAR)", "CLOB"):
            self.assertIn(expected, sql)
        self.assertNotIn(" DATE,\n\tc12", sql)  # a timestamp is no DATE, which keeps whole seconds

    def test_the_positions_table_compiles_for_both(self):
        self.assertIn("position VARCHAR(max) NOT NULL", str(CreateTable(POSITIONS).compile(dialect=server())))
        self.assertIn("position CLOB NOT NULL", str(CreateTable(POSITIONS).compile(dialect=database())))


class BulkInsertTest(unittest.TestCase):
    def test_pymssql_gets_multi_row_inserts_within_the_server_s_limits(self):
        rows = [(number, f"item {number}", None) for number in range(1500)]
        statements = multi_row_inserts(items(), ["id", "name", "price"], rows)
        self.assertEqual(len(statements), 3)  # 699 rows of 3 parameters: under 2100 each
        compiled = statements[0].compile(dialect=server())
        self.assertEqual(len(compiled.params), 699 * 3)
        self.assertTrue(str(compiled).startswith("INSERT INTO items (id, name, price) VALUES"))

    def test_pyodbc_binds_a_batch_at_once_and_other_drivers_need_no_option(self):
        self.assertEqual(
            dialect_of("mssql").engine_options(sa.make_url("mssql+pyodbc://sa@db/x")), {"fast_executemany": True}
        )
        self.assertEqual(dialect_of("mssql").engine_options(sa.make_url("mssql+pymssql://sa@db/x")), {})
        self.assertEqual(dialect_of("oracle").engine_options(sa.make_url("oracle+oracledb://u@db")), {})


class MergeTest(unittest.TestCase):
    def test_sql_server_merges_one_row_by_its_key_and_ends_the_statement(self):
        sql = str(
            dialect_of("mssql")
            .merge_statement(server(), items(), ["id"], ["id", "name", "price"])
            .compile(dialect=server())
        )
        self.assertEqual(
            sql,
            "MERGE INTO items t USING (SELECT :p0 AS id, :p1 AS name, :p2 AS price) s ON (t.id = s.id) "
            "WHEN MATCHED THEN UPDATE SET name = s.name, price = s.price "
            "WHEN NOT MATCHED THEN INSERT (id, name, price) VALUES (s.id, s.name, s.price);",
        )

    def test_oracle_merges_from_dual_and_a_key_only_row_is_left_as_it_is(self):
        statement = dialect_of("oracle").merge_statement(database(), items(), ["id"], ["id"])
        self.assertEqual(
            str(statement.compile(dialect=database())),
            "MERGE INTO items t USING (SELECT :p0 AS id FROM dual) s ON (t.id = s.id) "
            "WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
        )

    def test_a_database_without_merge_is_named_when_merging_is_asked(self):
        with self.assertRaises(OperationError) as raised:
            dialect_of("impala").merge_statement(database(), items(), ["id"], ["id"])
        self.assertIn("not supported on impala", str(raised.exception))


class SchemaChangesTest(unittest.TestCase):
    def test_each_database_adds_and_widens_a_column_its_own_way(self):
        self.assertEqual(dialect_of("mssql").added_column("t", "c", "BIGINT"), "ALTER TABLE t ADD c BIGINT")
        self.assertEqual(dialect_of("oracle").added_column("t", "c", "NUMBER(19)"), "ALTER TABLE t ADD (c NUMBER(19))")
        self.assertEqual(dialect_of("db2").added_column("t", "c", "BIGINT"), "ALTER TABLE t ADD COLUMN c BIGINT")
        self.assertEqual(
            dialect_of("mssql").widened_column("t", "c", "BIGINT", False),
            "ALTER TABLE t ALTER COLUMN c BIGINT NOT NULL",
        )
        self.assertEqual(
            dialect_of("oracle").widened_column("t", "c", "NUMBER(19)", True), "ALTER TABLE t MODIFY (c NUMBER(19))"
        )

    def test_sql_server_swaps_the_loaded_twin_in_with_sp_rename(self):
        quote = server().identifier_preparer.quote
        self.assertEqual(
            dialect_of("mssql").swap_statements("dbo.items", "dbo.items_pdip_replace", "dbo", "items", quote),
            ["DROP TABLE dbo.items", "EXEC sp_rename 'dbo.items_pdip_replace', 'items'"],
        )
        self.assertEqual(
            dialect_of("oracle").swap_statements("items", "items_pdip_replace", None, "items", quote)[1],
            "ALTER TABLE items_pdip_replace RENAME TO items",
        )


class ReadingTest(unittest.TestCase):
    def test_sql_server_resumes_a_compound_key_without_row_values(self):
        table = items()
        condition = partitions.after([table.c.id, table.c.name], [4, "d"], row_values=False)
        self.assertEqual(
            str(condition.compile(dialect=server(), compile_kwargs={"literal_binds": True})),
            "items.id > 4 OR items.id = 4 AND items.name > 'd'",
        )
        compared = partitions.after([table.c.id, table.c.name], [4, "d"])  # where row values compare
        self.assertEqual(
            str(compared.compile(dialect=database(), compile_kwargs={"literal_binds": True})),
            "(items.id, items.name) > (4, 'd')",
        )


class DatabaseConfigTest(unittest.TestCase):
    def test_sql_server_and_oracle_are_reached_by_their_parts(self):
        url = DatabaseConfig(type="mssql", host="db", user="sa", password="p@ss", database="sales").url()
        self.assertEqual(url.render_as_string(hide_password=False), "mssql+pymssql://sa:p%40ss@db/sales")
        url = DatabaseConfig(type="oracle", host="db", port=1521, user="scott", database="FREEPDB1").url()
        self.assertEqual(url.render_as_string(), "oracle+oracledb://scott@db:1521?service_name=FREEPDB1")
        self.assertEqual(DatabaseConfig(type="oracle", user="scott").url().query, {})


if __name__ == "__main__":
    unittest.main()
