"""Change-log mode at SQL databases: the outbox as a source, tables the entries are applied to.
Every test runs on SQLite, PostgreSQL and MariaDB."""

import datetime as dt
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.sql import positions
from pdip.integrator.adapters.sql.changes import OutboxSource, SqlApplyTarget
from pdip.integrator.changes import batch_entries, entries_batch
from pdip.integrator.errors import OperationError
from pdip.tracking import ChangeLogEntry, SqlExporter
from tests.integrationtests.kafka.support import Context
from tests.support import servers


def insert(key, **after):
    return ChangeLogEntry("insert", entity="accounts", key=key, after={"id": key, **after})


def update(key, **after):
    return ChangeLogEntry("update", entity="accounts", key=key, after=after)


def delete(key):
    return ChangeLogEntry("delete", entity="accounts", key=key)


class ChangesAtSql:
    """The tests; subclasses say which database."""

    url: str

    @classmethod
    def setUpClass(cls):
        cls.url = cls.database_url()
        cls.engine = sa.create_engine(cls.url)
        cls.names = []

    @classmethod
    def tearDownClass(cls):
        with cls.engine.begin() as connection:
            for name in cls.names:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {cls.engine.dialect.identifier_preparer.quote(name)}")
            if sa.inspect(connection).has_table(positions.POSITIONS.name):
                connection.execute(positions.POSITIONS.delete().where(positions.POSITIONS.c.slot.like("pdip-it-%")))
        cls.engine.dispose()

    def name(self, prefix):
        name = f"pdip_it_{prefix}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        return name

    def replica(self, extra=(), unique_only=False):
        name = self.name("replica")
        metadata = sa.MetaData()
        sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=not unique_only, unique=unique_only, autoincrement=False),
            sa.Column("name", sa.String(50)),
            sa.Column("amount", sa.Numeric(10, 2)),
            sa.Column("born", sa.Date),
            *extra,
        )
        metadata.create_all(self.engine)
        return name

    def rows(self, table):
        with self.engine.connect() as connection:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            return [dict(row) for row in connection.execute(sa.select(reflected).order_by(reflected.c.id)).mappings()]

    def target(self, **settings):
        target = SqlApplyTarget(Connection("sql", {"url": self.url, **settings}), Context())
        self.addCleanup(target.close)
        target.prepare(["entry"], create=False, truncate=settings.pop("truncate", False))
        return target

    # -- applying --

    def test_inserts_updates_and_deletes_are_applied_by_key_in_order(self):
        table = self.replica()
        target = self.target(table=table)
        result = target.write(
            entries_batch(
                [
                    insert(1, name="ada", amount=Decimal("1.50"), born=dt.date(1815, 12, 10)),
                    insert(2, name="bob"),
                    update(1, name="ada l."),
                    insert(3, name="cy"),
                    delete(2),
                    update(3, amount=Decimal("3.25")),
                    delete(3),
                    insert(3, name="cy again"),
                ]
            )
        )
        self.assertEqual((result.written, result.rejected), (8, []))
        self.assertEqual(
            self.rows(table),
            [
                {"id": 1, "name": "ada l.", "amount": Decimal("1.50"), "born": dt.date(1815, 12, 10)},
                {"id": 3, "name": "cy again", "amount": None, "born": None},
            ],
        )
        missing = update(4, name="dan")
        result = target.write(entries_batch([update(1, amount=Decimal("2.00")), missing]))
        first = self.rows(table)[0]
        self.assertEqual((first["id"], first["name"], first["amount"]), (1, "ada l.", Decimal("2.00")))
        self.assertEqual(
            [(row[0], reason) for row, reason in result.rejected],
            [
                (
                    missing,
                    f"update of a row table {table!r} does not have (id=4): the update carries only the columns "
                    "it changed (name), not a whole row to insert",
                )
            ],
        )
        self.assertEqual([row["id"] for row in self.rows(table)], [1, 3])

    def test_an_update_without_columns_only_asks_whether_its_row_is_there(self):
        table = self.replica()
        target = self.target(table=table)
        target.write(entries_batch([insert(1, name="a")]))
        result = target.write(entries_batch([update(1), update(2)]))
        self.assertEqual(result.written, 1)
        self.assertEqual(
            [(row[0].key, reason) for row, reason in result.rejected],
            [
                (
                    2,
                    f"update of a row table {table!r} does not have (id=2): the update carries only the columns "
                    "it changed (no column), not a whole row to insert",
                )
            ],
        )
        self.assertEqual([(row["id"], row["name"]) for row in self.rows(table)], [(1, "a")])

    def test_updates_in_later_batches_change_only_their_columns_of_rows_whose_columns_are_not_null(self):
        name = self.name("strict")
        metadata = sa.MetaData()
        sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("name", sa.String(20), nullable=False),
            sa.Column("amount", sa.Integer, nullable=False),
            sa.Column("deleted_at", sa.DateTime(timezone=True)),
        )
        metadata.create_all(self.engine)
        target = self.target(table=name, soft_delete="deleted_at")
        when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
        batches = [
            [insert(k, name=f"n{k}", amount=0) for k in range(1, 7)],
            [update(k, amount=k) for k in range(1, 7)] + [update(2, name="two")],
            [update(3, name="three"), ChangeLogEntry("delete", entity="accounts", key=4, timestamp=when)],
            [update(4, amount=40), update(5, name="five", amount=50)],
            # a whole row image is inserted when the row is missing; a partial one is refused
            [update(7, id=7, name="seven", amount=7, deleted_at=None), update(8, amount=8)],
            [ChangeLogEntry("delete", entity="accounts", key=6), update(6, amount=60)],
        ]
        results = [target.write(entries_batch(batch)) for batch in batches]
        self.assertEqual([len(result.rejected) for result in results], [0, 0, 0, 0, 1, 0])
        self.assertIn("(id=8)", results[4].rejected[0][1])
        self.assertEqual(
            {row["id"]: (row["name"], row["amount"], row["deleted_at"] is not None) for row in self.rows(name)},
            {
                1: ("n1", 1, False),
                2: ("two", 2, False),
                3: ("three", 3, False),
                4: ("n4", 40, True),
                5: ("five", 50, False),
                6: ("n6", 60, True),
                7: ("seven", 7, False),
            },
        )

    def test_a_replay_of_the_same_batch_has_the_same_effect(self):
        table = self.replica()
        target = self.target(table=table)
        batch = entries_batch([insert(1, name="a"), update(1, name="b"), insert(2, name="c"), delete(2)])
        target.write(batch)
        target.write(batch)
        self.assertEqual([(row["id"], row["name"]) for row in self.rows(table)], [(1, "b")])

    def test_entries_that_cannot_be_applied_are_refused_with_the_reason_and_the_rest_lands(self):
        table = self.replica()
        target = self.target(table=table)
        bad_type = insert(2, name="bob", amount="not a number")
        unknown = insert(3, name="cy", colour="red")
        no_key = ChangeLogEntry("update", entity="accounts", after={"name": "x"})
        container = ChangeLogEntry("append", entity="accounts", key=4, path="[0:1]", after=["x"])
        batch = entries_batch([insert(1, name="ada"), bad_type, unknown, no_key, container, insert(5, name="eve")])
        result = target.write(batch)
        self.assertEqual(result.written, 2)
        reasons = {row[0].key: reason for row, reason in result.rejected}
        self.assertEqual(reasons[3], f"unknown column 'colour' in table {table!r}")
        self.assertIn("no key: the entry's key is None", reasons[None])
        self.assertIn("action 'append' changes a place inside a container", reasons[4])
        self.assertTrue(reasons[2], "the database's reason for the value")
        self.assertEqual([row["id"] for row in self.rows(table)], [1, 5])

    def test_an_unknown_column_is_refused_even_when_a_later_delete_in_the_batch_removes_the_row(self):
        table = self.replica()
        unknown = insert(3, name="cy", colour="red")
        result = self.target(table=table).write(entries_batch([insert(1, name="ada"), unknown, delete(3)]))
        self.assertEqual(
            [(row[0], reason) for row, reason in result.rejected],
            [(unknown, f"unknown column 'colour' in table {table!r}")],
        )
        self.assertEqual([row["id"] for row in self.rows(table)], [1])

    def test_soft_delete_marks_the_row_and_a_later_insert_brings_it_back(self):
        table = self.replica(extra=[sa.Column("deleted_at", sa.DateTime(timezone=True)), sa.Column("gone", sa.Boolean)])
        target = self.target(table=table, soft_delete="deleted_at")
        when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
        gone = ChangeLogEntry("delete", entity="accounts", key=2, timestamp=when)
        target.write(entries_batch([insert(1, name="a"), insert(2, name="b"), gone]))
        rows = self.rows(table)
        self.assertIsNone(rows[0]["deleted_at"])
        self.assertEqual(rows[1]["deleted_at"].replace(tzinfo=dt.timezone.utc), when)
        target.write(entries_batch([delete(1), insert(1, name="a2")]))
        self.assertEqual((self.rows(table)[0]["name"], self.rows(table)[0]["deleted_at"]), ("a2", None))
        flagged = self.target(table=table, soft_delete={"column": "gone", "value": True})
        flagged.write(entries_batch([delete(1)]))
        self.assertEqual(self.rows(table)[0]["gone"], True)

    def test_tables_route_entities_and_others_are_left_out(self):
        first, second = self.replica(), self.replica()
        target = self.target(tables={"accounts": first, "people": second})
        person = ChangeLogEntry("insert", entity="people", key=7, after={"id": 7, "name": "pat"})
        other = ChangeLogEntry("insert", entity="orders", key=1, after={"id": 1})
        result = target.write(entries_batch([insert(1, name="a"), person, other]))
        self.assertEqual(result.written, 2)
        self.assertEqual([row["id"] for row in self.rows(first)], [1])
        self.assertEqual([row["id"] for row in self.rows(second)], [7])
        only = self.target(table=first, entity="people")
        self.assertEqual(only.write(entries_batch([insert(9, name="x")])).written, 0)

    def test_a_unique_key_that_is_not_the_primary_key_works_and_a_plain_column_is_refused(self):
        table = self.replica(unique_only=True, extra=[sa.Column("pk", sa.Integer, primary_key=True)])
        target = self.target(table=table, key=["id"])
        target.write(entries_batch([insert(1, name="a", pk=10), update(1, name="b")]))
        self.assertEqual([(row["id"], row["name"]) for row in self.rows(table)], [(1, "b")])
        with self.assertRaisesRegex(
            OperationError, r"key: \(name\) is neither the primary key nor a unique constraint"
        ):
            self.target(table=table, key="name").write(entries_batch([insert(2)]))

    def test_uuid_and_composite_keys(self):
        name = self.name("uuids")
        metadata = sa.MetaData()
        table = sa.Table(
            name,
            metadata,
            sa.Column("region", sa.String(10), primary_key=True),
            sa.Column("uid", sa.Uuid, primary_key=True),
            sa.Column("ref", sa.Uuid),
            sa.Column("note", sa.String(20)),
        )
        metadata.create_all(self.engine)
        one, two, ref = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        target = self.target(table=name)
        target.write(
            entries_batch(
                [
                    ChangeLogEntry(
                        "insert", key={"region": "eu", "uid": one}, after={"region": "eu", "uid": one, "ref": ref}
                    ),
                    ChangeLogEntry("insert", key=["us", two], after={"region": "us", "uid": two, "note": "b"}),
                    ChangeLogEntry("update", key={"region": "eu", "uid": one}, after={"note": "a"}),
                ]
            )
        )
        target.write(entries_batch([ChangeLogEntry("delete", key={"region": "us", "uid": two})]))
        with self.engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(sa.select(table))]
        self.assertEqual(rows, [("eu", one, ref, "a")])

    def test_a_table_without_primary_key_needs_a_key(self):
        name = self.name("nokey")
        metadata = sa.MetaData()
        sa.Table(name, metadata, sa.Column("id", sa.Integer), sa.Column("name", sa.String(10)))
        metadata.create_all(self.engine)
        with self.assertRaisesRegex(OperationError, f"key: table {name!r} has no primary key; name its key columns"):
            self.target(table=name).write(entries_batch([insert(1)]))

    def test_configuration_errors_name_the_setting(self):
        cases = [
            ({}, "table \\(or tables: \\{entity: table\\}\\) is required"),
            ({"table": "pdip_it_missing"}, "table 'pdip_it_missing' does not exist"),
            ({"tables": []}, "tables: expected a mapping"),
            ({"table": self.replica(), "key": ["nope"]}, "key: table .* has no column nope"),
            ({"table": self.replica(), "soft_delete": "nope"}, "soft_delete: table .* has no column 'nope'"),
        ]
        for settings, message in cases:
            with self.subTest(settings=settings), self.assertRaisesRegex(OperationError, message):
                self.target(**settings).write(entries_batch([insert(1)]))

    def test_truncate_empties_the_table_before_the_first_batch(self):
        table = self.replica()
        self.target(table=table).write(entries_batch([insert(1), insert(2)]))
        self.target(table=table, truncate=True).write(entries_batch([insert(3)]))
        self.assertEqual([row["id"] for row in self.rows(table)], [3])

    # -- positions --

    def test_the_position_is_stored_with_the_batch_and_kafka_offsets_merge_per_partition(self):
        table = self.replica()
        target = self.target(table=table)
        slot = f"pdip-it-{uuid.uuid4().hex[:8]}/apply"
        target.position_slot = slot
        self.assertIsNone(target.durable_position(slot))
        target.write(entries_batch([insert(1)], position={"t": {"0": 5, "1": 2}}))
        target.write(entries_batch([insert(2)], position={"t": {"1": 9}, "u": {"0": 1}}))
        self.assertEqual(target.durable_position(slot), {"t": {"0": 5, "1": 9}, "u": {"0": 1}})
        self.assertIn("apply changes", target.describe())
        batch = entries_batch([insert(3)], position=42)
        try:
            batch.partition = "p1"
        except AttributeError:  # a Batch without a partition slot: the base slot is used
            target.write(batch)
            self.assertEqual(target.durable_position(slot), 42)
        else:
            target.write(batch)
            self.assertEqual(target.durable_position(f"{slot}/p1"), 42)
        target.forget_positions(slot)
        self.assertIsNone(target.durable_position(slot))

    def test_a_refused_batch_still_stores_its_position_with_what_landed(self):
        table = self.replica()
        target = self.target(table=table)
        slot = f"pdip-it-{uuid.uuid4().hex[:8]}/refused"
        target.position_slot = slot
        target.write(entries_batch([insert(1), insert(2, amount="bad")], position=7))
        self.assertEqual(target.durable_position(slot), 7)
        self.assertEqual([row["id"] for row in self.rows(table)], [1])

    # -- the outbox --

    def test_the_outbox_is_read_by_sequence_from_a_resumed_position_and_filtered_by_entity(self):
        name = self.name("outbox")
        with SqlExporter(self.engine, table=name, create_table=True, batch_size=1000) as exporter:
            for index in range(1, 8):
                exporter(ChangeLogEntry("insert", entity="a" if index % 2 else "b", key=index, after={"id": index}))
        source = OutboxSource(Connection("sql", {"url": self.url, "table": name}), Context())
        self.addCleanup(source.close)
        batches = list(source.read(ReadRequest(3)))
        self.assertEqual([batch.position for batch in batches], [3, 6, 7])
        self.assertEqual([entry.key for batch in batches for entry in batch_entries(batch)], list(range(1, 8)))
        resumed = list(source.read(ReadRequest(10, resume=5)))
        self.assertEqual([entry.key for entry in batch_entries(resumed[0])], [6, 7])
        only_b = OutboxSource(Connection("sql", {"url": self.url, "table": name, "entities": "b"}), Context())
        self.addCleanup(only_b.close)
        self.assertEqual(
            [entry.key for batch in only_b.read(ReadRequest(10)) for entry in batch_entries(batch)], [2, 4, 6]
        )

    def test_following_the_outbox_picks_up_new_entries(self):
        name = self.name("outbox")
        exporter = SqlExporter(self.engine, table=name, create_table=True, batch_size=1)
        exporter(insert(1))
        source = OutboxSource(Connection("sql", {"url": self.url, "table": name, "poll_interval": 0.05}), Context())
        self.addCleanup(source.close)
        stream = source.read(ReadRequest(10, follow=True))
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], [1])
        exporter(insert(2))
        self.assertEqual([entry.key for entry in batch_entries(next(stream))], [2])
        stream.close()
        exporter.close()

    def test_a_missing_outbox_table_is_named(self):
        source = OutboxSource(Connection("sql", {"url": self.url, "table": "pdip_it_no_outbox"}), Context())
        self.addCleanup(source.close)
        with self.assertRaisesRegex(OperationError, "change-log table 'pdip_it_no_outbox' does not exist"):
            list(source.read(ReadRequest(10)))


class SqliteChangesTest(ChangesAtSql, unittest.TestCase):
    @classmethod
    def database_url(cls):
        cls.folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(cls.folder.name) / 'changes.db'}"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.folder.cleanup()


class PostgresChangesTest(ChangesAtSql, unittest.TestCase):
    @classmethod
    def database_url(cls):
        return servers.postgres_url()

    def test_updates_of_rows_the_table_lacks_are_found_among_many_with_one_query(self):
        table = self.replica()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"INSERT INTO {table} (id, name) SELECT g, 'n' FROM generate_series(1, 400) g")
            connection.exec_driver_sql(f"DELETE FROM {table} WHERE id IN (5, 250)")
        target = self.target(table=table)
        statements = []
        sa.event.listen(target.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        result = target.write(entries_batch([update(key, name="u") for key in range(400, 0, -1)]))
        target.commit()
        self.assertEqual(
            [(entry.key, reason.split(":")[0]) for (entry,), reason in result.rejected],
            [(key, f"update of a row table {table!r} does not have (id={key})") for key in (250, 5)],
        )
        self.assertEqual(result.written, 398)
        asked = [text for text in statements if text.startswith("SELECT") and table in text]
        self.assertEqual(len(asked), 1, asked)  # not a question per row
        self.assertEqual({row["name"] for row in self.rows(table)}, {"u"})

    def test_a_few_partial_updates_look_their_rows_up_by_key_without_reading_the_whole_table(self):
        table = self.replica()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {table} (id, name, amount) SELECT g, 'n' || g, 0 FROM generate_series(1, 5000) g"
            )
            connection.exec_driver_sql(f"ANALYZE {table}")
        target = self.target(table=table)
        plans = []

        def explained(connection, cursor, statement, parameters, context, executemany):
            if statement.startswith(f'UPDATE "{table}"') or statement.startswith(f"UPDATE {table}"):
                with cursor.connection.cursor() as explaining:  # the staged rows are there until commit
                    plans.append(" ".join(row[0] for row in explaining.execute(f"EXPLAIN {statement}").fetchall()))

        sa.event.listen(target.engine, "after_cursor_execute", explained)
        result = target.write(entries_batch([update(key, amount=Decimal("1.50")) for key in (7, 700, 4000)]))
        target.commit()
        self.assertEqual((result.written, result.rejected), (3, []))
        self.assertEqual(len(plans), 1, plans)
        self.assertIn(f"Index Scan using {table}_pkey on {table}", plans[0])
        self.assertNotIn(f"Seq Scan on {table}", plans[0])  # 5,000 rows read for 3: a hash of the table
        amounts = {row["id"]: row["amount"] for row in self.rows(table) if row["amount"]}
        self.assertEqual(amounts, dict.fromkeys((7, 700, 4000), Decimal("1.50")))

    def test_the_staged_updates_are_counted_on_their_key_from_a_sample(self):
        table = self.replica()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"INSERT INTO {table} (id, name) SELECT g, 'n' FROM generate_series(1, 2000) g")
        target = self.target(table=table)
        statistics = []

        def counted(connection, cursor, statement, parameters, context, executemany):
            if statement.startswith(f'UPDATE "{table}"') or statement.startswith(f"UPDATE {table}"):
                with cursor.connection.cursor() as asking:  # the stage is there until commit
                    statistics.extend(
                        asking.execute(
                            "SELECT a.attname, a.attstattarget, s.n_distinct FROM pg_attribute AS a "
                            "JOIN pg_class AS c ON c.oid = a.attrelid AND c.relname LIKE 'pdip_stage_%' "
                            "AND c.relpersistence = 't' AND pg_table_is_visible(c.oid) "
                            "LEFT JOIN pg_stats AS s ON s.tablename = c.relname AND s.attname = a.attname "
                            "WHERE a.attnum > 0 ORDER BY a.attnum"
                        ).fetchall()
                    )

        sa.event.listen(target.engine, "after_cursor_execute", counted)
        result = target.write(entries_batch([update(key, name="u") for key in range(1, 2001)]))
        target.commit()
        self.assertEqual((result.written, result.rejected), (2000, []))
        # 300 of the 2,000 staged rows are sampled, all distinct: the planner is told the keys are
        # (n_distinct -1) without ANALYZE reading and sorting every staged row of every column
        self.assertEqual(statistics, [("id", 1, -1.0), ("name", -1, None)])
        self.assertEqual({row["name"] for row in self.rows(table)}, {"u"})


class MariaDbChangesTest(ChangesAtSql, unittest.TestCase):
    @classmethod
    def database_url(cls):
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
