"""One contract, three databases: SQLite, PostgreSQL and MariaDB behave the same through pdip.data."""

import datetime as dt
import tempfile
import unittest
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pdip import Pdi
from pdip.cqrs import Dispatcher, ICommand, ICommandHandler
from pdip.data import (
    ConstraintViolationError,
    DatabaseSessionManager,
    Entity,
    EntityNotFoundError,
    EntityNotStoredError,
    RepositoryProvider,
    Seed,
    SeedRunner,
    TenantMismatchError,
    Tracked,
    UnitOfWork,
    tenant,
    transactionhandler,
)
from pdip.data.outbox import CHANGE_LOG
from pdip.data.seeds import SEED_TABLE
from pdip.tracking import tracking_actor
from tests.support import servers


class ContractNote(Entity, Tracked):
    __tablename__ = "pdip_contract_notes"
    __table_args__ = (sa.UniqueConstraint("title", "TenantId", name="uq_contract_note_title"),)

    title: Mapped[str] = mapped_column(sa.String(100))
    body: Mapped[str | None] = mapped_column(sa.Text, default=None)
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2), default=None)


class ContractTag(Entity):
    __tablename__ = "pdip_contract_tags"

    label: Mapped[str] = mapped_column(sa.String(50))


TABLES = [ContractNote.__table__, ContractTag.__table__, CHANGE_LOG, SEED_TABLE]


@__import__("dataclasses").dataclass
class AddNote(ICommand):
    title: str
    fail: bool = False


class AddNoteHandler(ICommandHandler[AddNote]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, command: AddNote):
        self.provider.get(ContractNote).insert(ContractNote(title=command.title))
        if command.fail:
            raise RuntimeError("handler failed after inserting")
        return "added"


class WelcomeNotes(Seed):
    def run(self, provider):
        provider.get(ContractNote).insert_many([ContractNote(title="welcome"), ContractNote(title="read me")])


class NoteService:
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    @transactionhandler
    def add_two(self, first: str, second: str, fail: bool = False):
        self.add_one(first)
        self.add_one(second)
        if fail:
            raise ValueError("second thoughts")

    @transactionhandler
    def add_one(self, title: str):
        self.provider.get(ContractNote).insert(ContractNote(title=title))


class RepositoryContract:
    """Mixed into one TestCase per database; `database_url()` says which."""

    def database_url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.pdi = Pdi(
            root_directory=tempfile.mkdtemp(prefix="pdip-data-"),
            configurations={
                "DATABASE": {"TYPE": "sqlite", "CONNECTION_STRING": self.database_url()},
                "CQRS": {"LOGGING": False},
            },
        )
        self.database = self.pdi.get(DatabaseSessionManager)
        self.engine = self.database.engine
        Entity.metadata.drop_all(self.engine, tables=TABLES)
        Entity.metadata.create_all(self.engine, tables=TABLES)
        self.scope = self.pdi.scope()
        self.scope.__enter__()
        self.provider = self.pdi.get(RepositoryProvider)
        self.notes = self.provider.get(ContractNote)

    def tearDown(self):
        self.scope.__exit__(None, None, None)
        Entity.metadata.drop_all(self.engine, tables=TABLES)
        self.pdi.cleanup()

    def entries(self):
        return [entry for batch in self.database.change_log().read() for entry in batch]

    # -- the example -------------------------------------------------------------------

    def test_tenants_see_only_their_own_notes(self):
        with tenant("t1"):
            self.notes.insert(ContractNote(title="hello"))
            self.provider.commit()
            self.assertEqual([n.title for n in self.notes.get()], ["hello"])
        with tenant("t2"):
            self.assertEqual(self.notes.get(), [])

    # -- audit and tenancy -----------------------------------------------------------------------

    def test_insert_stamps_id_actor_time_and_tenant(self):
        before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        with tenant("t1"), tracking_actor("ada"):
            note = self.notes.insert(ContractNote(title="stamped"))
            self.provider.commit()
        self.provider.close()
        with tenant("t1"):
            stored = self.provider.get(ContractNote).get_by_id(note.Id)
        self.assertIsInstance(stored.Id, uuid.UUID)
        self.assertEqual((stored.CreateUserId, stored.TenantId, stored.UpdateUserId), ("ada", "t1", None))
        created = stored.CreateUserTime.replace(tzinfo=stored.CreateUserTime.tzinfo or dt.timezone.utc)
        self.assertGreaterEqual(created, before)

    def test_update_stamps_the_updater(self):
        with tenant("t1"):
            note = self.notes.insert(ContractNote(title="draft"))
            note.title = "final"
            with tracking_actor("bob"):
                self.notes.update(note)
            self.provider.commit()
        self.assertEqual(note.UpdateUserId, "bob")
        self.assertIsNotNone(note.UpdateUserTime)

    def test_an_entity_of_an_ended_unit_of_work_is_updated_and_logged(self):
        """A service keeps an entity between requests: updating it in a later scope must store
        the change and its change-log entry, not flush nothing."""
        with tenant("t1"):
            note = self.notes.insert(ContractNote(title="kept"))
            self.provider.commit()
        self.scope.__exit__(None, None, None)
        self.scope = self.pdi.scope()
        self.scope.__enter__()
        self.provider = self.pdi.get(RepositoryProvider)
        notes = self.provider.get(ContractNote)
        note.title = "changed later"
        with tenant("t1"):
            stored = notes.update(note)
            self.provider.commit()
            self.assertEqual(notes.get_by_id(note.Id).title, "changed later")
            self.assertEqual(stored.title, "changed later")
            self.provider.rollback()  # a SQLite transaction, even a reading one, holds the file for writing
        updates = [entry for entry in self.entries() if entry.action == "update"]
        self.assertEqual(
            [(entry.before["title"], entry.after["title"]) for entry in updates], [("kept", "changed later")]
        )

    def test_an_entity_of_an_ended_unit_of_work_is_deleted(self):
        with tenant("t1"):
            note = self.notes.insert(ContractNote(title="to go"))
            self.provider.commit()
            self.provider.close()
            notes = self.provider.get(ContractNote)
            notes.delete(note)
            self.provider.commit()
            self.assertIsNone(notes.get_by_id(note.Id))

    def test_updating_an_entity_never_inserted_is_refused(self):
        with self.assertRaisesRegex(EntityNotStoredError, "ContractNote is not stored yet: insert it"):
            self.notes.update(ContractNote(title="new"))

    def test_an_ended_unit_of_works_entity_of_another_tenant_is_not_changed(self):
        with tenant("t1"):
            note = self.notes.insert(ContractNote(title="theirs"))
            self.provider.commit()
        self.provider.close()
        notes = self.provider.get(ContractNote)
        note.title = "hijacked"
        with tenant("t2"), self.assertRaises(EntityNotFoundError):
            notes.update(note)
        self.provider.rollback()
        with tenant("t1"):
            self.assertEqual(notes.get_by_id(note.Id).title, "theirs")

    def test_another_tenants_row_can_be_neither_read_nor_changed(self):
        with tenant("t1"):
            note = self.notes.insert(ContractNote(title="private"))
            self.provider.commit()
        with tenant("t2"):
            self.assertIsNone(self.notes.get_by_id(note.Id))
            self.assertIsNone(self.notes.get_by_id(str(note.Id), include_deleted=True))
            self.assertEqual(self.notes.count(), 0)
            with self.assertRaises(EntityNotFoundError):
                self.notes.delete(note.Id)
            with self.assertRaises(TenantMismatchError):
                self.notes.delete(note)
            note.title = "hijacked"
            with self.assertRaises(TenantMismatchError):
                self.notes.update(note)
        self.provider.rollback()
        with tenant("t1"):
            self.assertEqual(self.notes.get_by_id(note.Id).title, "private")

    # -- soft delete -------------------------------------------------------------------------------

    def test_soft_deleted_rows_are_skipped_unless_asked_and_can_be_restored(self):
        keep = self.notes.insert(ContractNote(title="keep"))
        gone = self.notes.insert(ContractNote(title="gone"))
        self.notes.delete(gone)
        self.provider.commit()
        self.assertEqual([n.title for n in self.notes.get()], ["keep"])
        self.assertEqual(sorted(n.title for n in self.notes.get(include_deleted=True)), ["gone", "keep"])
        self.assertIsNone(self.notes.get_by_id(gone.Id))
        self.assertTrue(self.notes.get_by_id(gone.Id, include_deleted=True).is_deleted)
        self.notes.restore(gone.Id)
        self.notes.hard_delete(keep)
        self.provider.commit()
        self.assertEqual([n.title for n in self.notes.get()], ["gone"])
        self.assertEqual(self.notes.count(include_deleted=True), 1)

    # -- finders ---------------------------------------------------------------------------------

    def test_finders_filter_order_count_and_page(self):
        self.notes.insert_many(
            ContractNote(title=f"note {i:02d}", body="even" if i % 2 == 0 else "odd") for i in range(25)
        )
        self.provider.commit()
        self.assertEqual(self.notes.count(), 25)
        self.assertEqual(self.notes.count(body="even"), 13)
        self.assertEqual(self.notes.first(order_by="-title").title, "note 24")
        self.assertEqual(
            [n.title for n in self.notes.filter_by(body="odd", order_by="title", limit=2)], ["note 01", "note 03"]
        )
        self.assertEqual(
            [n.title for n in self.notes.filter_by(order_by=ContractNote.title.desc(), offset=23)],
            ["note 01", "note 00"],
        )
        self.assertEqual([n.title for n in self.notes.filter_by(order_by="-title", offset=23)], ["note 01", "note 00"])
        self.assertEqual([n.title for n in self.notes.filter_by(order_by="title", offset=20, body="odd")], [])
        self.assertEqual(self.notes.first(body="odd", order_by=["-body", "title"]).title, "note 01")
        self.assertEqual(self.notes.filter_by(order_by="title", limit=1, offset=2**62), [])  # BIGINT, not INTEGER
        page = self.notes.page(3, 10, order_by="title")
        self.assertEqual((len(page.items), page.total, page.pages, page.items[0].title), (5, 25, 3, "note 20"))
        self.assertEqual(self.notes.filter_by(body=None), [])
        everyone = self.provider.session.scalars(self.notes.query().where(ContractNote.title.like("note 1%"))).all()
        self.assertEqual(len(everyone), 10)

    # -- outbox --------------------------------------------------------------------------------------

    def test_tracked_changes_are_written_to_the_outbox_in_order(self):
        with tenant("t9"), tracking_actor("ada"):
            note = self.notes.insert(ContractNote(title="a", amount=Decimal("1.50")))
            note.title = "b"
            self.notes.update(note)
            self.notes.delete(note)
            self.notes.restore(note)
            self.notes.hard_delete(note)
            self.provider.get(ContractTag).insert(ContractTag(label="untracked"))
            self.provider.commit()
        entries = self.entries()
        self.assertEqual([e.action for e in entries], ["insert", "update", "delete", "insert", "delete"])
        sequences = [e.sequence for e in entries]
        self.assertEqual(sequences, sorted(sequences))
        self.assertEqual(len(set(sequences)), 5)
        self.assertTrue(all(e.entity == "pdip_contract_notes" and e.key == note.Id for e in entries))
        self.assertTrue(all(e.actor == "ada" and e.tenant == "t9" for e in entries))
        self.assertEqual(entries[0].after["amount"], Decimal("1.50"))
        self.assertEqual((entries[1].before, entries[1].after), ({"title": "a"}, {"title": "b"}))
        self.assertEqual(entries[3].extra, {"restored": True})
        self.assertEqual(entries[4].before["title"], "b")

    def test_a_rolled_back_transaction_leaves_no_entry(self):
        self.notes.insert(ContractNote(title="never"))
        self.provider.rollback()
        self.notes.insert(ContractNote(title="kept"))
        self.provider.commit()
        self.assertEqual([e.after["title"] for e in self.entries()], ["kept"])

    def test_the_reader_returns_entries_after_a_sequence_in_batches(self):
        self.notes.insert_many(ContractNote(title=f"n{i}") for i in range(7))
        self.provider.commit()
        reader = self.database.change_log()
        first = reader.last_sequence() - 7
        batches = list(reader.read(after=first, batch_size=3))
        self.assertEqual([len(batch) for batch in batches], [3, 3, 1])
        self.assertEqual(list(reader.read(after=reader.last_sequence())), [])
        self.assertEqual(len(next(iter(reader.read(after=first + 6, batch_size=3)))), 1)

    # -- bad input ---------------------------------------------------------------------------------

    def test_a_broken_constraint_names_the_entity_and_leaves_the_unit_usable(self):
        with tenant("t1"):  # (title, TenantId) is unique; NULL tenants never collide
            self.notes.insert(ContractNote(title="unique"))
            self.provider.commit()
            with self.assertRaises(ConstraintViolationError) as raised:
                self.notes.insert(ContractNote(title="unique"))
            self.assertEqual(raised.exception.entity, "ContractNote")
            self.assertIn("ContractNote violates", str(raised.exception))
            message = str(raised.exception)
            self.assertTrue("uq_contract_note_title" in message or "UNIQUE (title, TenantId)" in message, message)
            self.notes.insert(ContractNote(title="after the error"))
            self.provider.commit()
            self.assertEqual(self.notes.count(), 2)
            with self.assertRaises(ConstraintViolationError) as raised:
                self.provider.get(ContractTag).insert(ContractTag(label=None))
            self.assertEqual(raised.exception.entity, "ContractTag")
            self.assertIn("NOT NULL (label)", str(raised.exception))

    # -- unit of work --------------------------------------------------------------------------------

    def test_unit_of_work_commits_rolls_back_and_nested_blocks_join(self):
        work = self.pdi.get(UnitOfWork)
        with work:
            with work:
                self.provider.get(ContractNote).insert(ContractNote(title="inner"))
            self.assertTrue(work.active)
        with self.assertRaises(RuntimeError), work:
            self.provider.get(ContractNote).insert(ContractNote(title="lost"))
            raise RuntimeError("boom")
        self.assertEqual([n.title for n in self.provider.get(ContractNote).get()], ["inner"])

    def test_transactionhandler_joins_the_outer_call(self):
        service = NoteService(self.provider)
        service.add_two("one", "two")
        with self.assertRaises(ValueError):
            service.add_two("three", "four", fail=True)
        self.assertEqual(sorted(n.title for n in self.provider.get(ContractNote).get()), ["one", "two"])

    def test_commands_commit_through_the_unit_of_work_behaviour(self):
        dispatcher = self.pdi.get(Dispatcher)
        self.assertEqual(dispatcher.dispatch(AddNote(title="via command")), "added")
        with self.assertRaises(RuntimeError):
            dispatcher.dispatch(AddNote(title="failed command", fail=True))
        self.provider.close()
        self.assertEqual([n.title for n in self.provider.get(ContractNote).get()], ["via command"])

    # -- seeds ---------------------------------------------------------------------------------------

    def test_seeds_are_applied_once(self):
        runner = self.pdi.get(SeedRunner)
        self.assertEqual(runner.run([WelcomeNotes]), ["WelcomeNotes"])
        self.assertEqual(runner.run([WelcomeNotes]), [])
        self.assertEqual(sorted(n.title for n in self.provider.get(ContractNote).get()), ["read me", "welcome"])


class SqliteRepositoryTest(RepositoryContract, unittest.TestCase):
    def database_url(self):
        return f"sqlite:///{tempfile.mkdtemp(prefix='pdip-sqlite-')}/contract.db"


class PostgresRepositoryTest(RepositoryContract, unittest.TestCase):
    def database_url(self):
        return servers.postgres_url()


class MariaDbRepositoryTest(RepositoryContract, unittest.TestCase):
    def database_url(self):
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
