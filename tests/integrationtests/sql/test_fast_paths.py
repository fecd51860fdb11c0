"""The stores' native fast paths against real servers: PostgreSQL binary COPY passed through,
CSV handed to COPY as it is, MariaDB LOAD DATA, and what happens when each of them refuses."""

import contextlib
import datetime as dt
import io
import pickle
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import pymysql
import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.text import UNCLOSED
from pdip.integrator.adapters.sql import mysql as sql_mysql
from pdip.integrator.adapters.sql import postgres
from pdip.integrator.adapters.sql.rows import SqlSource, SqlTarget
from pdip.integrator.base import Integrator
from pdip.integrator.batch import Batch
from tests.support import servers

COPY = ("postgresql-copy-binary",)


class _Context:
    root = None
    execution_id = "fast-paths"


class PostgresFastPathTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        self.tables: list[str] = []
        self.source_table = self.table(
            "src",
            "id integer primary key, name text, price numeric(10, 2), created timestamp, active boolean, "
            "parent integer, note varchar(50), payload bytea, tags text[]",
        )
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {self.source_table} SELECT g, 'name ' || g, g / 4.0, "
                "timestamp '2026-01-01 12:00' + g * interval '1 hour', mod(g, 2) = 0, "
                "CASE WHEN mod(g, 3) = 0 THEN NULL ELSE g END, repeat('x', mod(g, 50)), "
                "decode(lpad(to_hex(g), 4, '0'), 'hex'), ARRAY['a', g::text] FROM generate_series(1, 250) AS g"
            )
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-fast-run-"))
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        self.pdi.cleanup()
        with self.engine.begin() as connection:
            for name in self.tables:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        self.engine.dispose()

    def table(self, prefix: str, columns: str | None = None) -> str:
        name = f"pdip_fast_{prefix}_{uuid.uuid4().hex[:8]}"
        self.tables.append(name)
        if columns:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f"CREATE TABLE {name} ({columns})")
        return name

    def rows(self, table: str) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")]

    def run_one(self, integration: Integration, executor: str = "process"):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.integrator.integrate(Operation("fast", [integration], executor=executor))

    def connection(self, **settings) -> Connection:
        return Connection("sql", {"url": self.url, **settings})

    def test_a_copy_passes_the_binary_data_through_and_keeps_every_value(self):
        copy = self.table("copy")
        result = self.run_one(
            Integration(
                "copy",
                source=self.connection(table=self.source_table),
                target=self.connection(table=copy),
                create_target=True,
                batch_size=60,
            )
        )
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(result.integrations[0].rows_written, 250)
        self.assertEqual(self.rows(copy), self.rows(self.source_table))
        self.assertEqual(self.rows(copy)[2][5], None)
        self.assertEqual(self.rows(copy)[9][2], Decimal("2.50"))

    def test_names_holding_a_percent_sign_reach_copy_as_they_are(self):
        # SQLAlchemy's quoting doubles `%` for psycopg's parameters; COPY takes none
        odd = self.table("pct", '"share%%" text, id integer primary key')
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"INSERT INTO {odd} VALUES (%s, 1), (NULL, 2)", ("ten",))
        copy, merged = self.table("pctcopy"), self.table("pctmerge")
        for target, write in ((copy, "append"), (merged, "merge"), (merged, "merge")):
            result = self.run_one(
                Integration(
                    write,
                    source=self.connection(table=odd),
                    target=self.connection(table=target),
                    create_target=True,
                    write=write,
                    key=["id"],
                )
            )
            self.assertTrue(result.ok, result.integrations[0].error)
        for target in (copy, merged):
            self.assertEqual(self.rows(target), [("ten", 1), (None, 2)])
        strict = self.table("pctstrict", '"share%%" text NOT NULL, id integer primary key')
        for write in ("append", "merge"):  # the refused row sends the batch row by row
            result = self.run_one(
                Integration(
                    write,
                    source=self.connection(query=f"SELECT * FROM {odd}"),
                    target=self.connection(table=strict),
                    write=write,
                    key=["id"],
                    max_errors=1,
                )
            )
            self.assertEqual(result.integrations[0].rows_written, 1, result.integrations[0].error)
            self.assertEqual(result.integrations[0].rows_dead_lettered, 1)
        self.assertEqual(self.rows(strict), [("ten", 1)])
        named = f"pdip_fast_{uuid.uuid4().hex[:8]}_100%"  # a table's name too
        self.addCleanup(self.drop_named, named)
        for _ in range(2):
            result = self.run_one(
                Integration(
                    "replace",
                    source=self.connection(table=odd),
                    target=self.connection(table=named),
                    write="replace",
                    create_target=True,
                ),
            )
            self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(self.rows(f'"{named}%"'), [("ten", 1), (None, 2)])

    def drop_named(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}%"')

    def test_the_source_hands_over_raw_batches_that_decode_to_the_rows(self):
        source = SqlSource(self.connection(table=self.source_table), _Context())
        self.addCleanup(source.close)
        batches = list(source.read(ReadRequest(100, key=["id"], accept=COPY)))
        self.assertEqual([len(batch) for batch in batches], [100, 100, 50])
        self.assertEqual(batches[1].position, {"key": [200], "rows": 200})
        copy = pickle.loads(pickle.dumps(batches[0]))
        self.assertEqual(copy.raw_format, "postgresql-copy-binary")
        first = copy.rows[0]
        self.assertEqual(first[:6], (1, "name 1", Decimal("0.25"), dt.datetime(2026, 1, 1, 13, 0), False, 1))
        self.assertEqual((first[7], first[8]), (b"\x00\x01", ["a", "1"]))
        resumed = list(source.read(ReadRequest(100, key=["id"], accept=COPY, resume={"key": [240], "rows": 240})))
        self.assertEqual([row[0] for row in resumed[0].rows], list(range(241, 251)))
        whole = list(source.read(ReadRequest(1000, accept=COPY, resume=245)))
        self.assertEqual((len(whole[0]), whole[0].position), (5, 250))
        empty = list(source.read(ReadRequest(10, key=["id"], accept=COPY, resume={"key": [250], "rows": 250})))
        self.assertEqual(empty, [])

    def test_a_copy_the_server_refuses_to_start_raises_its_error_and_leaves_the_connection_usable(self):
        from pdip.integrator.adapters.sql import postgres as sql_postgres

        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            with self.assertRaisesRegex(Exception, "pdip_no_such_table"):
                list(sql_postgres.read_copy_binary(connection, "COPY pdip_no_such_table TO STDOUT", [], (), 10, None))
        with engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT 1").scalar(), 1)

    def test_an_error_in_the_middle_of_a_copy_fails_the_read_with_the_server_reason(self):
        source = SqlSource(
            self.connection(query="SELECT 10 / (50 - g) AS n FROM generate_series(1, 100) AS g"), _Context()
        )
        self.addCleanup(source.close)
        batches = source.read(ReadRequest(20, accept=COPY))
        self.assertEqual([len(next(batches)), len(next(batches))], [20, 20])
        with self.assertRaisesRegex(Exception, "division by zero"):
            list(batches)
        with source.engine.connect() as connection:  # the pool handed out a working connection again
            self.assertEqual(connection.exec_driver_sql("SELECT 1").scalar(), 1)

    def test_a_read_stopped_early_discards_its_connection(self):
        source = SqlSource(self.connection(table=self.source_table), _Context())
        self.addCleanup(source.close)
        batches = source.read(ReadRequest(10, accept=COPY))
        self.assertEqual(len(next(batches)), 10)
        batches.close()  # the COPY is still running: that connection must not go back to the pool
        self.assertEqual(sum(len(batch) for batch in source.read(ReadRequest(100, accept=COPY))), 250)

    def test_a_query_result_creates_its_table_from_the_column_types(self):
        copy = self.table("query")
        result = self.run_one(
            Integration(
                "query",
                source=self.connection(
                    query=f"SELECT id, name, created, price * 2 AS doubled FROM {self.source_table}"
                ),
                target=self.connection(table=copy),
                create_target=True,
                batch_size=100,
            )
        )
        self.assertTrue(result.ok, result.integrations[0].error)
        with self.engine.connect() as connection:
            kinds = connection.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %(name)s "
                "ORDER BY ordinal_position",
                {"name": copy},
            ).all()
        self.assertEqual(
            [tuple(kind) for kind in kinds],
            [("id", "integer"), ("name", "text"), ("created", "timestamp without time zone"), ("doubled", "numeric")],
        )
        self.assertEqual(self.rows(copy)[0], (1, "name 1", dt.datetime(2026, 1, 1, 13, 0), Decimal("0.50")))

    def test_a_target_of_other_column_types_gets_decoded_rows(self):
        copy = self.table("wider", "id bigint, name varchar(20), price double precision, created timestamptz")
        result = self.run_one(
            Integration(
                "wider",
                source=self.connection(query=f"SELECT id, name, price, created FROM {self.source_table}"),
                target=self.connection(table=copy),
                batch_size=100,
            )
        )
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(len(self.rows(copy)), 250)
        self.assertEqual(self.rows(copy)[3][:3], (4, "name 4", 1.0))

    def test_rows_refused_from_a_raw_batch_are_dead_lettered_and_the_rest_written(self):
        copy = self.table("strict", "id integer, name text, parent integer NOT NULL")
        result = self.run_one(
            Integration(
                "strict",
                source=self.connection(query=f"SELECT id, name, parent FROM {self.source_table}"),
                target=self.connection(table=copy),
                batch_size=100,
                max_errors=1000,
            )
        )
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual((result.integrations[0].rows_written, result.integrations[0].rows_dead_lettered), (167, 83))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(letters[0]["row"], {"id": 3, "name": "name 3", "parent": None})
        self.assertIn("NotNullViolation", letters[0]["reason"])
        self.assertEqual(len(self.rows(copy)), 167)

    def test_key_ranges_are_read_in_parallel_with_a_position_each(self):
        copy = self.table("parallel")
        integration = Integration(
            "parallel",
            source=self.connection(table=self.source_table),
            target=self.connection(table=copy),
            create_target=True,
            batch_size=40,
            parallelism=3,
            key=["id"],
        )
        result = self.run_one(integration)
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual([row[0] for row in self.rows(copy)], list(range(1, 251)))
        target = SqlTarget(self.connection(table=copy), _Context())
        self.addCleanup(target.close)
        self.assertEqual(target.durable_position("fast/parallel/3/3"), {"key": [250], "rows": 82})


class CsvToPostgresTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        self.table = f"pdip_fast_csv_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id integer, label text, ok boolean, at date)")
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-fast-csv-"))
        self.pdi = Pdi(root_directory=self.folder)
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        self.pdi.cleanup()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
        self.engine.dispose()

    def run_csv(self, text: str, **settings):
        (self.folder / "in.csv").write_text(text)
        integration = Integration(
            "csv",
            source=Connection("csv", {"path": "in.csv", **settings}),
            target=Connection("sql", {"url": self.url, "table": self.table}),
            batch_size=3,
            max_errors=10,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            return self.integrator.integrate(Operation("csv", [integration]))

    def stored(self) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {self.table} ORDER BY id")]

    def test_csv_records_reach_copy_as_they_are_quoted_lines_and_nulls_included(self):
        text = 'id,label,ok,at\n1,plain,true,2026-03-01\n2,"two\nlines, and ""quotes""",False,\n\n3,,t,2026-03-03\n4,x,no,2026-03-04'
        result = self.run_csv(text)
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(
            self.stored(),
            [
                (1, "plain", True, dt.date(2026, 3, 1)),
                (2, 'two\nlines, and "quotes"', False, None),
                (3, None, True, dt.date(2026, 3, 3)),
                (4, "x", False, dt.date(2026, 3, 4)),
            ],
        )

    def test_a_malformed_record_is_dead_lettered_with_its_line_and_the_rest_written(self):
        result = self.run_csv("id,label,ok,at\n1,a,true,\n2,b\n3,c,maybe,\n4,d,false,\n", null="")
        self.assertTrue(result.ok, result.integrations[0].error)
        outcome = result.integrations[0]
        self.assertEqual((outcome.rows_written, outcome.rows_dead_lettered), (2, 2))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        reasons = {letter["row"]["id"]: letter["reason"] for letter in letters}
        self.assertEqual(reasons["2"], "in.csv:3: expected 4 fields, got 2")
        self.assertIn('invalid input syntax for type boolean: "maybe"', reasons["3"])
        self.assertEqual([row[0] for row in self.stored()], [1, 4])

    def test_a_quote_never_closed_is_dead_lettered_not_stored_with_the_lines_after_it(self):
        result = self.run_csv('id,label,ok,at\n1,a,true,\n2,"open,true,\n3,c,false,\n', null="")
        outcome = result.integrations[0]
        self.assertTrue(result.ok, outcome.error)
        self.assertEqual((outcome.rows_written, outcome.rows_dead_lettered), (1, 1))
        (letter,) = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(letter["reason"], f"in.csv:3: {UNCLOSED}")
        self.assertEqual(self.stored(), [(1, "a", True, None)])

    def test_a_search_given_to_copy_runs_while_the_copy_is_open_and_abandons_it_when_it_finds(self):
        seen = []

        def search(found: bool):
            def searched() -> bool:
                with self.engine.connect() as other:  # the COPY, seen from another session
                    query = f"SELECT count(*) FROM pg_stat_progress_copy WHERE relid = '{self.table}'::regclass"
                    seen.append(other.exec_driver_sql(query).scalar())
                return found

            return searched

        layout = {"delimiter": ",", "quotechar": '"', "null": ""}
        with self.engine.connect() as connection:
            with self.assertRaises(postgres.CopyAbandoned), connection.begin():
                postgres.copy_csv(connection, self.table, "id, label, ok, at", b"1,a,true,\n", layout, search(True))
            with connection.begin():
                postgres.copy_csv(connection, self.table, "id, label, ok, at", b"2,b,false,\n", layout, search(False))
        self.assertEqual(seen, [1, 1])
        self.assertEqual(self.stored(), [(2, "b", False, None)])

    def test_a_copy_refused_before_the_search_ran_is_checked_first_and_then_written_row_by_row(self):
        with self.engine.begin() as connection:  # COPY refuses a generated column before reading a record
            connection.exec_driver_sql(f"DROP TABLE {self.table}")
            connection.exec_driver_sql(
                f"CREATE TABLE {self.table} (id integer, at timestamp, g integer GENERATED ALWAYS AS (id) STORED)"
            )
        result = self.run_csv("id,at,g\n1,2026-01-01 10:00+02,\n2,2026-01-01 10:00,\n")
        outcome = result.integrations[0]
        self.assertEqual((outcome.rows_written, outcome.rows_dead_lettered), (0, 2))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        reasons = {letter["row"]["id"]: letter["reason"] for letter in letters}
        self.assertIn("the zone in '2026-01-01 10:00+02'", reasons["1"])  # not the server's reason
        self.assertIn('cannot insert a non-DEFAULT value into column "g"', reasons["2"])

    def test_typed_csv_is_parsed_by_pdip_not_passed_through(self):
        result = self.run_csv("id,label,ok,at\n1,a,yes,\n", types={"ok": "bool"})
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertEqual(self.stored(), [(1, "a", True, None)])


class MariaDbLoadDataTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.mysql_url()
        self.engine = sa.create_engine(self.url, connect_args={"local_infile": True})
        self.table = f"pdip_fast_maria_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.table} (id integer, label varchar(40) NOT NULL, at datetime(6), "
                "amount decimal(8, 2), ok bool, data blob)"
            )
        self.metadata_table = sa.Table(self.table, sa.MetaData(), autoload_with=self.engine)

    def tearDown(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
        self.engine.dispose()

    def stored(self) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {self.table} ORDER BY id")]

    def drop(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    def load(self, loader, rows, engine=None) -> None:
        with (engine or self.engine).begin() as connection:
            loader.load(connection, self.metadata_table, ["id", "label", "at", "amount", "ok"], rows)

    def test_load_data_writes_escaped_text_nulls_and_every_type(self):
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        moment = dt.datetime(2026, 3, 1, 12, 30, 15, 250)
        rows = [
            (1, "tab\there\\back\nline", moment, Decimal("12.50"), True),
            (2, "", moment.replace(tzinfo=dt.timezone.utc), None, False),
            (3, "plain", None, Decimal("1"), None),
        ]
        self.load(loader, rows)
        self.assertTrue(loader.allowed)
        self.assertEqual(
            self.stored(),
            [
                (1, "tab\there\\back\nline", moment, Decimal("12.50"), 1, None),
                (2, "", moment, None, 0, None),
                (3, "plain", None, Decimal("1.00"), None, None),
            ],
        )

    def test_a_load_the_server_changed_is_an_error_so_the_target_goes_row_by_row(self):
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        with self.assertRaises(pymysql.err.DataError) as caught:
            self.load(loader, [(1, None, None, None, None)])
        self.assertIn("loaded 1 of 1 rows with 1 warnings", str(caught.exception))
        self.assertEqual(self.stored(), [])

    def test_a_refused_load_data_falls_back_to_insert_and_is_remembered(self):
        refusing = sa.create_engine(self.url)  # no local_infile: the client refuses
        self.addCleanup(refusing.dispose)
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        self.load(loader, [(1, "a", None, None, True)], engine=refusing)
        self.assertFalse(loader.allowed)
        self.load(loader, [(2, "b", None, None, False)], engine=refusing)
        self.assertEqual([row[:2] for row in self.stored()], [(1, "a"), (2, "b")])

    def test_other_errors_of_load_data_are_raised(self):
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        missing = sa.Table("pdip_no_such_table", sa.MetaData(), sa.Column("id", sa.Integer))
        with self.engine.begin() as connection, self.assertRaises(pymysql.err.ProgrammingError):
            loader.load(connection, missing, ["id"], [(1,)])
        self.assertTrue(loader.allowed)

    def test_values_without_a_text_form_go_in_as_insert(self):
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        with self.engine.begin() as connection:
            loader.load(connection, self.metadata_table, ["id", "label", "data"], [(1, "bytes", b"\x00\t\xff")])
        self.assertTrue(loader.allowed)
        self.assertEqual(self.stored()[0][5], b"\x00\t\xff")

    def test_a_sql_target_loads_batches_and_dead_letters_what_the_server_refuses(self):
        target = SqlTarget(Connection("sql", {"url": self.url, "table": self.table}), _Context())
        self.addCleanup(target.close)
        target.prepare(["id"], create=False, truncate=False)
        result = target.write(Batch(["id", "label"], [(1, "a"), (2, None), (3, "c")]))
        self.assertEqual(result.written, 2)
        self.assertEqual([row for row, _ in result.rejected], [(2, None)])
        self.assertIn("label", result.rejected[0][1])
        self.assertEqual([row[:2] for row in self.stored()], [(1, "a"), (3, "c")])

    def test_a_merge_is_loaded_into_a_temporary_table_and_applied_by_key(self):
        keyed = f"{self.table}_keyed"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {keyed} (id integer primary key, label varchar(9) NOT NULL)")
        self.addCleanup(self.drop, keyed)
        table = sa.Table(keyed, sa.MetaData(), autoload_with=self.engine)
        columns = ["id", "label"]
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        with self.engine.connect() as connection:
            with connection.begin():
                loader.merge(connection, table, columns, [(1, "a"), (2, "b")], ["id"])
            with self.assertRaises(pymysql.err.DataError), connection.begin():  # leaves its temporary table
                loader.merge(connection, table, columns, [(2, None)], ["id"])
            with connection.begin():
                loader.merge(connection, table, columns, [(2, "B"), (3, "c")], ["id"])
        refusing = sa.create_engine(self.url)  # no local_infile: the rows go into the temporary table by INSERT
        self.addCleanup(refusing.dispose)
        with refusing.begin() as connection:
            loader.merge(connection, table, columns, [(1, "A")], ["id"])
        self.assertFalse(loader.allowed)
        with self.engine.connect() as connection:
            stored = connection.exec_driver_sql(f"SELECT * FROM {keyed} ORDER BY id").all()
        self.assertEqual([tuple(row) for row in stored], [(1, "A"), (2, "B"), (3, "c")])

    def test_a_column_named_with_a_percent_sign_is_loaded_and_merged_by_that_name(self):
        odd = f"{self.table}_pct"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {odd} (id integer primary key, `share%%` varchar(9))")
        self.addCleanup(self.drop, odd)
        table = sa.Table(odd, sa.MetaData(), autoload_with=self.engine)
        loader = sql_mysql.Loader()
        self.addCleanup(loader.close)
        with self.engine.begin() as connection:
            loader.load(connection, table, ["id", "share%"], [(1, "ten"), (2, "five")])
        with self.engine.begin() as connection:
            loader.merge(connection, table, ["id", "share%"], [(2, "half"), (3, "all")], ["id"])
        self.assertTrue(loader.allowed)
        with self.engine.connect() as connection:
            stored = connection.exec_driver_sql(f"SELECT id, `share%%` FROM {odd} ORDER BY id").all()
        self.assertEqual([tuple(row) for row in stored], [(1, "ten"), (2, "half"), (3, "all")])

    def test_a_mariadb_url_loads_data_too(self):
        url = sa.make_url(self.url).set(drivername="mariadb+pymysql")
        target = SqlTarget(Connection("sql", {"url": url.render_as_string(hide_password=False)}), _Context())
        self.addCleanup(target.close)
        self.assertIsNotNone(target._loader)
        with target.engine.begin() as connection:
            target._loader.load(connection, self.metadata_table, ["id", "label"], [(7, "seven")])
        self.assertTrue(target._loader.allowed)
        self.assertEqual([row[:2] for row in self.stored()], [(7, "seven")])


if __name__ == "__main__":
    unittest.main()
