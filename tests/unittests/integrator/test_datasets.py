import unittest
from pathlib import Path

import pyarrow
import sqlalchemy as sa

from pdip.integrator import Connection
from pdip.integrator.datasets import Dataset, datasets_of, field_types
from pdip.integrator.types import ColumnTypes


class DatasetNamesTest(unittest.TestCase):
    def test_postgresql_is_named_by_host_port_database_schema_and_table_without_credentials(self):
        connection = Connection(
            "postgresql",
            {"url": "postgresql+psycopg://app:s3cret@db.example:5433/shop?sslpassword=x", "table": "orders"},
        )
        (dataset,) = datasets_of(connection)
        self.assertEqual(dataset, Dataset("postgres://db.example:5433", "shop.public.orders"))
        self.assertNotIn("s3cret", repr(dataset))
        self.assertNotIn("app", dataset.namespace)

    def test_sql_parts_name_the_same_dataset_and_leave_the_password_out(self):
        connection = Connection(
            "mysql",
            {"host": "db", "port": 3306, "user": "root", "password": "pw1", "database": "shop", "table": "orders"},
        )
        self.assertEqual(datasets_of(connection), (Dataset("mysql://db:3306", "shop.orders"),))
        schema = Connection("postgres", {"host": "db", "database": "shop", "schema": "sales", "table": "t"})
        self.assertEqual(datasets_of(schema), (Dataset("postgres://db", "shop.sales.t"),))
        mariadb = Connection("sql", {"url": "mariadb+pymysql://u:p@maria/shop", "table": "t"})
        self.assertEqual(datasets_of(mariadb), (Dataset("mysql://maria", "shop.t"),))

    def test_a_query_source_is_named_by_a_digest_of_its_sql_never_by_its_literals(self):
        query = "SELECT * FROM users WHERE token = 'tok-123'"
        (dataset,) = datasets_of(Connection("postgresql", {"url": "postgresql://db/shop", "query": query}))
        self.assertRegex(dataset.name, r"^shop\.public\.query_[0-9a-f]{12}$")
        self.assertNotIn("tok-123", dataset.name)

    def test_sqlite_and_duckdb_files_resolve_against_the_root(self):
        root = Path("/srv/app")
        sqlite = Connection("sqlite", {"database": "data/shop.db", "table": "orders"})
        self.assertEqual(datasets_of(sqlite, root), (Dataset("sqlite:///srv/app/data/shop.db", "orders"),))
        memory_db = Connection("sql", {"url": "sqlite://", "table": "t"})
        self.assertEqual(datasets_of(memory_db), (Dataset("sqlite://:memory:", "t"),))
        duck = Connection("duckdb", {"database": "lake.duckdb", "table": "events"})
        self.assertEqual(datasets_of(duck, root), (Dataset("duckdb:///srv/app/lake.duckdb", "main.events"),))
        in_memory = Connection("duckdb", {"database": ":memory:", "schema": "s", "table": "t"})
        self.assertEqual(datasets_of(in_memory), (Dataset("duckdb://:memory:", "s.t"),))

    def test_files_topics_and_memory_stores(self):
        root = Path("/srv/app")
        self.assertEqual(
            datasets_of(Connection("csv", {"path": "out/orders.csv"}), root),
            (Dataset("file", "/srv/app/out/orders.csv"),),
        )
        self.assertEqual(datasets_of(Connection("csv", {"path": "/data/a.csv"})), (Dataset("file", "/data/a.csv"),))
        remote = Connection("parquet", {"path": "s3://key:secret@lake/raw/orders.parquet"})
        self.assertEqual(datasets_of(remote), (Dataset("s3://lake", "raw/orders.parquet"),))
        kafka = Connection("kafka", {"bootstrap_servers": "b1:9092,b2:9092", "topics": ["a", "b"]})
        self.assertEqual(datasets_of(kafka), (Dataset("kafka://b1:9092", "a"), Dataset("kafka://b1:9092", "b")))
        listed = Connection("kafka", {"bootstrap_servers": ["b3:9092"], "topic": "c"})
        self.assertEqual(datasets_of(listed), (Dataset("kafka://b3:9092", "c"),))
        self.assertEqual(datasets_of(Connection("memory", {"store": "s"})), (Dataset("memory", "s"),))
        self.assertEqual(datasets_of(None), ())
        self.assertEqual(datasets_of(Connection("thing", {"table": "x"})), (Dataset("thing", "x"),))
        self.assertEqual(datasets_of(Connection("thing")), (Dataset("thing", "thing"),))

    def test_a_connection_that_cannot_be_named_gets_its_kind_and_table_and_the_run_goes_on(self):
        broken = Connection("postgresql", {"url": "not a url://", "table": "orders"})
        self.assertEqual(datasets_of(broken), (Dataset("postgresql", "orders"),))


class FieldTypesTest(unittest.TestCase):
    def test_declared_sql_and_arrow_types_become_name_and_type_pairs(self):
        declared = ColumnTypes("", (sa.Integer(), None, sa.String(20)), ("id", "note", "name"))
        self.assertEqual(field_types(declared), (("id", "INTEGER"), ("note", "unknown"), ("name", "VARCHAR(20)")))
        schema = pyarrow.schema([("id", pyarrow.int64()), ("at", pyarrow.timestamp("us"))])
        self.assertEqual(field_types(schema), (("id", "int64"), ("at", "timestamp[us]")))
        self.assertEqual(field_types(None), ())

    def test_a_type_the_generic_compiler_cannot_spell_is_named_by_its_class(self):
        class Odd(sa.types.UserDefinedType):
            def get_col_spec(self):
                raise NotImplementedError

        self.assertEqual(field_types(ColumnTypes("", (Odd(),), ("x",))), (("x", "ODD"),))
