"""The data layer on an in-memory SQLite database: the rules that need no server."""

import collections
import datetime as dt
import enum
import gc
import tempfile
import unittest
import unittest.mock
import warnings
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Mapped, mapped_column

from pdip import Pdi
from pdip.configuration import DatabaseConfig
from pdip.conversion.tagged import decode, dumps, encode
from pdip.data import (
    DatabaseSessionManager,
    Entity,
    RepositoryProvider,
    TenantContext,
    TenantMismatchError,
    Tracked,
    current_tenant,
    tenant,
    transactionhandler,
)
from pdip.data import repository as repositories
from pdip.data.collector import BATCH_THRESHOLD
from pdip.data.outbox import CHANGE_LOG, Outbox
from pdip.data.provider import _violation
from pdip.data.session import _engine_options


class UnitWidget(Entity, Tracked):
    __tablename__ = "pdip_unit_widgets"

    name: Mapped[str] = mapped_column(sa.String(50))
    api_token: Mapped[str | None] = mapped_column(sa.String(50), default=None)


class Plain:
    """Not an entity: the session's hooks leave it alone."""


TABLES = [UnitWidget.__table__, CHANGE_LOG]


def memory_pdi(**settings):
    return Pdi(
        root_directory=tempfile.mkdtemp(prefix="pdip-unit-data-"),
        configurations={"DATABASE": {"TYPE": "sqlite", "DATABASE": ":memory:"}, "CQRS": {"LOGGING": False}},
        **settings,
    )


class SessionManagerTest(unittest.TestCase):
    def test_the_password_never_shows_and_pools_suit_each_backend(self):
        config = DatabaseConfig(type="postgresql", host="db", user="app", password="hunter2", database="prod")
        self.assertEqual(
            _engine_options(config.url(), config),
            {"echo": False, "pool_size": 10, "max_overflow": 10},
        )
        mysql = DatabaseConfig(type="mysql", host="db", database="prod")
        self.assertEqual(_engine_options(mysql.url(), mysql)["pool_recycle"], 3600)
        self.assertEqual(
            _engine_options(DatabaseConfig(type="sqlite", database="/tmp/x.db").url(), mysql),
            {"echo": False, "connect_args": {"timeout": 30.0}},
        )
        with memory_pdi() as pdi:
            manager = pdi.get(DatabaseSessionManager)
            self.assertEqual(manager.dialect, "sqlite")
            self.assertEqual(repr(manager), "DatabaseSessionManager(sqlite://)")
        with memory_pdi(overrides={DatabaseConfig: config}) as pdi:
            shown = repr(pdi.get(DatabaseSessionManager))
        self.assertIn("app:***@db", shown)
        self.assertNotIn("hunter2", shown)


class HooksTest(unittest.TestCase):
    def setUp(self):
        self.pdi = memory_pdi()
        self.database = self.pdi.get(DatabaseSessionManager)
        Entity.metadata.create_all(self.database.engine, tables=TABLES)

    def tearDown(self):
        self.pdi.cleanup()

    def test_objects_that_are_not_entities_pass_through_the_hooks(self):
        session = self.database.session()
        session.add(UnitWidget(name="w"))
        session.flush()
        session.execute(sa.text("SELECT 1"))
        session.commit()
        self.assertEqual(session.scalar(sa.select(sa.func.count()).select_from(UnitWidget)), 1)
        self.assertEqual(repr(session.scalars(sa.select(UnitWidget)).one()).split("(")[0], "UnitWidget")

    def test_changing_the_tenant_column_is_judged_by_the_stored_tenant(self):
        with self.pdi.scope():
            provider = self.pdi.get(RepositoryProvider)
            with tenant("t1"):
                widget = provider.get(UnitWidget).insert(UnitWidget(name="w"))
                provider.commit()
                widget.TenantId = "t2"
                with self.assertRaisesRegex(
                    TenantMismatchError, "belongs to tenant 't1' but the current tenant is 't1'|'t2'"
                ):
                    provider.session.flush()
            provider.rollback()

    def test_a_policy_may_rewrite_or_drop_entries(self):
        seen = []

        def policy(entry):
            seen.append(entry.action)
            if entry.after and entry.after.get("name") == "drop me":
                return None
            return entry.replace(after={**entry.after, "name": "renamed by policy"})

        self.database.outbox = Outbox(policy)
        sa.event.remove(
            self.database.sessions, "after_flush", self.pdi.get(DatabaseSessionManager).outbox.after_flush
        ) if False else None
        session = self.database.session()
        outbox = Outbox(policy)
        sa.event.listen(session, "after_flush", outbox.after_flush)
        session.add_all([UnitWidget(name="keep", api_token="1234"), UnitWidget(name="drop me")])
        session.commit()
        stored = [dict(row) for row in session.execute(sa.select(CHANGE_LOG.c.after)).mappings()]
        renamed = [row for row in stored if "renamed by policy" in row["after"]]
        self.assertEqual(len(stored), 3)  # two from the session's own outbox, one kept by this policy
        self.assertEqual(len(renamed), 1)
        self.assertEqual(seen, ["insert", "insert"])

    def test_the_outbox_paces_the_cycle_collector_while_it_writes_a_flush(self):
        # the entries of a flush are many small objects and no cycles (docs/adr/0009)
        paced = []
        session = self.database.session()
        outbox = Outbox(lambda entry: paced.append(gc.get_threshold()[0]) or entry)
        sa.event.listen(session, "after_flush", outbox.after_flush)
        original = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *original)
        gc.set_threshold(700, *original[1:])
        session.add_all([UnitWidget(name="a"), UnitWidget(name="b")])
        session.commit()
        self.assertEqual(paced, [BATCH_THRESHOLD, BATCH_THRESHOLD])
        self.assertEqual(gc.get_threshold()[0], 700)


class RepositoryRulesTest(unittest.TestCase):
    def test_bad_pages_filters_and_orderings_are_named(self):
        with memory_pdi() as pdi:
            Entity.metadata.create_all(pdi.get(DatabaseSessionManager).engine, tables=TABLES)
            with pdi.scope():
                widgets = pdi.get(RepositoryProvider).get(UnitWidget)
                with self.assertRaisesRegex(ValueError, "page number and size start at 1; got number=0, size=5"):
                    widgets.page(0, 5)
                with self.assertRaisesRegex(AttributeError, "UnitWidget has no attribute 'colour' to filter by"):
                    widgets.filter_by(colour="red")
                with self.assertRaisesRegex(AttributeError, "UnitWidget has no attribute 'size' to order by"):
                    widgets.get(order_by="-size")


class WritesWithoutWarningsTest(unittest.TestCase):
    def test_each_write_flushes_the_session_without_a_deprecation_warning(self):
        # flush(objects) is deprecated in SQLAlchemy 2: it warned on every insert of an API (issue #19)
        with memory_pdi() as pdi, warnings.catch_warnings():
            warnings.simplefilter("error", exc.SADeprecationWarning)
            Entity.metadata.create_all(pdi.get(DatabaseSessionManager).engine, tables=TABLES)
            with pdi.scope():
                provider = pdi.get(RepositoryProvider)
                widgets = provider.get(UnitWidget)
                first = widgets.insert(UnitWidget(name="a"))
                pending = UnitWidget(name="pending")
                provider.session.add(pending)
                widgets.insert_many([UnitWidget(name="b")])
                first.name = "a2"
                widgets.update(first)
                widgets.delete(first.Id)
                widgets.restore(first.Id)
                widgets.hard_delete(first.Id)
                provider.commit()
                self.assertEqual(sorted(widget.name for widget in widgets.get()), ["b", "pending"])


class KeptStatementsTest(unittest.TestCase):
    """Finders keep one statement per shape and bind this call's tenant and values to it."""

    def setUp(self):
        self.pdi = memory_pdi()
        Entity.metadata.create_all(self.pdi.get(DatabaseSessionManager).engine, tables=TABLES)
        self.addCleanup(self.pdi.cleanup)
        scope = self.pdi.scope()
        scope.__enter__()
        self.addCleanup(scope.__exit__, None, None, None)
        self.provider = self.pdi.get(RepositoryProvider)
        self.widgets = self.provider.get(UnitWidget)
        for owner, names in ((None, ["a", "b"]), ("t1", ["c", "d", "e"]), ("t2", ["f"])):
            with tenant(owner):
                self.widgets.insert_many(
                    UnitWidget(name=name, api_token=None if name == "e" else "x") for name in names
                )
        self.provider.commit()

    def names(self, widgets):
        return [widget.name for widget in widgets]

    def test_the_same_shape_is_one_statement_whatever_the_tenant_and_values(self):
        repositories._STATEMENTS.clear()
        with tenant("t1"):
            c = self.widgets.first(name="c")
            self.assertEqual(self.names(self.widgets.filter_by(order_by="-name", limit=2, offset=1)), ["d", "c"])
            kept = len(repositories._STATEMENTS)
        with tenant("t2"):
            self.assertIsNone(self.widgets.get_by_id(c.Id))  # another tenant's id is not found
            self.assertIsNone(self.widgets.first(name="c"))
            self.assertEqual(self.names(self.widgets.filter_by(order_by="-name", limit=2, offset=1)), [])
        with tenant("t1"):
            self.assertEqual(self.widgets.get_by_id(str(c.Id)).name, "c")
            self.assertEqual(self.names(self.widgets.filter_by(order_by="-name", limit=1, offset=2)), ["c"])
        self.assertEqual(len(repositories._STATEMENTS), kept + 1)  # get_by_id's; the rest were reused
        self.assertEqual(self.names(self.widgets.get(order_by="name")), ["a", "b"])  # no tenant: untenanted rows

    def test_none_is_a_shape_of_its_own_and_counts_follow_the_filters(self):
        with tenant("t1"):
            self.assertEqual(self.names(self.widgets.filter_by(api_token=None)), ["e"])
            self.assertEqual(self.widgets.count(api_token="x"), 2)
            self.assertEqual(self.widgets.count(api_token=None), 1)
            self.widgets.delete(self.widgets.first(name="e"))
            self.assertEqual(self.widgets.count(api_token=None), 0)
            self.assertEqual(self.widgets.count(include_deleted=True, api_token=None), 1)

    def test_expressions_are_built_per_call_and_shapes_past_the_bound_are_not_kept(self):
        with tenant("t1"):
            self.assertEqual(self.widgets.count(name=sa.literal("d")), 1)
            self.assertEqual(self.names(self.widgets.filter_by(name=sa.literal("d"), limit=1, offset=0)), ["d"])
            self.assertEqual(self.names(self.widgets.filter_by(order_by=UnitWidget.name.desc(), offset=2)), ["c"])
            with unittest.mock.patch.object(repositories, "_MOST_SHAPES", 0):
                repositories._STATEMENTS.clear()
                self.assertEqual(self.widgets.first(order_by=["name"]).name, "c")
                self.assertEqual(repositories._STATEMENTS, {})


class TenantContextTest(unittest.TestCase):
    def test_the_scoped_context_reads_and_sets_the_current_tenant(self):
        with memory_pdi() as pdi, pdi.scope():
            context = pdi.get(TenantContext)
            self.assertIsNone(context.tenant_id)
            with context.use("acme"):
                self.assertEqual((context.tenant_id, current_tenant()), ("acme", "acme"))
            self.assertIsNone(current_tenant())


class TransactionHandlerTest(unittest.TestCase):
    def test_an_object_without_a_unit_of_work_is_told_what_to_inject(self):
        class Service:
            @transactionhandler
            def work(self):
                return "never"

        with self.assertRaisesRegex(
            TypeError, r"@transactionhandler on .*Service.work needs the object to hold a UnitOfWork"
        ):
            Service().work()


class ViolationMessageTest(unittest.TestCase):
    def error(self, message, statement="INSERT INTO pdip_unit_widgets (name) VALUES (?)"):
        return exc.IntegrityError(statement, {}, Exception(message))

    def test_each_backends_wording_is_understood(self):
        cases = [
            ("UNIQUE constraint failed: pdip_unit_widgets.name", "UnitWidget violates constraint UNIQUE (name)"),
            (
                "(1062, \"Duplicate entry 'x' for key 'pdip_unit_widgets.uq_name'\")",
                "UnitWidget violates constraint uq_name",
            ),
            (
                "(1452, 'Cannot add or update a child row: a foreign key constraint fails (CONSTRAINT `fk_owner`)')",
                "constraint fk_owner",
            ),
            ("(1048, \"Column 'name' cannot be null\")", "UnitWidget violates constraint NOT NULL (name)"),
            ("something else entirely", "UnitWidget violates a constraint: something else entirely"),
        ]
        for message, expected in cases:
            with self.subTest(message=message):
                self.assertIn(expected, str(_violation(self.error(message))))
        unknown = _violation(self.error("odd", statement="SELECT 1"))
        self.assertEqual(unknown.entity, "an entity")


class Colour(enum.Enum):
    RED = 1


class TaggedEdgeTest(unittest.TestCase):
    def test_subclasses_and_other_containers_are_encoded_too(self):
        ordered = collections.OrderedDict(a=Decimal("1"))
        self.assertEqual(encode(ordered), {"a": {"$decimal": "1"}})
        self.assertEqual(encode(Colour.RED), 1)

        class Stamp(dt.datetime):
            pass

        self.assertEqual(encode(Stamp(2026, 1, 1)), {"$datetime": "2026-01-01T00:00:00"})
        self.assertEqual(decode(encode([(1, 2)])), [(1, 2)])
        self.assertEqual(dumps({"a": (1,)}), '{"a":{"$tuple":[1]}}')
        self.assertEqual(dumps({"$a": 1}), '{"$dict":{"$a":1}}')


if __name__ == "__main__":
    unittest.main()


class PolicyOnOutboxTest(unittest.TestCase):
    def test_secret_columns_are_redacted_before_the_entry_is_written(self):
        with memory_pdi() as pdi:
            database = pdi.get(DatabaseSessionManager)
            Entity.metadata.create_all(database.engine, tables=TABLES)
            with pdi.scope():
                provider = pdi.get(RepositoryProvider)
                provider.get(UnitWidget).insert(UnitWidget(name="w", api_token="1234"))
                provider.commit()
            stored = database.engine.connect().execute(sa.select(CHANGE_LOG.c.after)).scalar()
            entry = next(iter(database.change_log().read()))[0]
        self.assertNotIn("1234", stored)
        self.assertEqual(entry.after["api_token"], "<redacted>")
        self.assertEqual(entry.after["name"], "w")
