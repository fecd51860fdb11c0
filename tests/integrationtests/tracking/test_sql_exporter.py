"""The SQL exporter against real PostgreSQL and MariaDB: the change-log table, batches in one
transaction each, and entries that read back with their values' types."""

from __future__ import annotations

import datetime as dt
import unittest
import uuid
from decimal import Decimal

import sqlalchemy as sa

from pdip.policy import Policy
from pdip.tracking import SqlExporter, TrackedDict, tracking_actor
from pdip.tracking.table import change_log_table, row_to_entry
from tests.support import servers


class SqlExporterRoundTrip:
    engine: sa.Engine

    def setUp(self) -> None:
        self.table_name = f"pdip_changes_{uuid.uuid4().hex[:12]}"
        self.table = change_log_table(sa.MetaData(), self.table_name)
        self.addCleanup(self.table.drop, self.engine, checkfirst=True)

    def stored(self):
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.table).order_by(self.table.c.sequence))
            return [row_to_entry(row._mapping) for row in rows]

    def test_tracked_changes_reach_the_table_in_batches_and_read_back_equal(self) -> None:
        commits = []

        def count_commit(connection):
            commits.append(connection)

        exporter = SqlExporter(self.engine, table=self.table_name, create_table=True, batch_size=2)
        sa.event.listen(self.engine, "commit", count_commit)
        self.addCleanup(sa.event.remove, self.engine, "commit", count_commit)
        cart = TrackedDict({"lines": []}, name="cart", tenant="t1", observers=[exporter])
        with tracking_actor("ada"):
            cart["lines"].append({"sku": "A", "price": Decimal("9.99")})
            cart["lines"][0]["price"] = Decimal("8.50")
            cart["due"] = dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.timezone.utc)
        exporter.close()
        stored = self.stored()
        self.assertEqual(len(commits), 2)
        expected = cart.tracking_changes()
        self.assertEqual([e.id for e in stored], [e.id for e in expected])
        for got, made in zip(stored, expected, strict=True):
            self.assertEqual(
                (got.action, got.entity, got.key, got.path, got.before, got.after, got.actor, got.tenant),
                (made.action, made.entity, made.key, made.path, made.before, made.after, made.actor, made.tenant),
            )
            self.assertLess(abs(got.epoch - made.epoch), 1e-5)
        self.assertEqual(stored[2].after, dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.timezone.utc))
        self.engine.dispose()  # the exporter does not own the engine; it is still usable
        self.assertEqual(len(self.stored()), 3)

    def test_entries_can_pass_a_policy_on_their_way_to_the_table(self) -> None:
        exporter = SqlExporter(self.engine, table=self.table_name, create_table=True, batch_size=10)
        policy = Policy.default()
        cart = TrackedDict(name="cart", observers=[lambda entry: exporter(policy.apply_entry(entry))])
        cart["password"] = "s3cret"
        exporter.flush()
        (stored,) = self.stored()
        self.assertEqual(stored.after, "<redacted>")


class PostgresSqlExporterTest(SqlExporterRoundTrip, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = sa.create_engine(servers.postgres_url())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.dispose()


class MariaDbSqlExporterTest(SqlExporterRoundTrip, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = sa.create_engine(servers.mysql_url())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.dispose()


if __name__ == "__main__":
    unittest.main()
