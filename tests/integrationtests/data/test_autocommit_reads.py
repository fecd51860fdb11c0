"""Reads outside a unit of work run in autocommit on PostgreSQL: one round trip, no BEGIN or
ROLLBACK; anything else, and everything after it, runs in a transaction as before (issue #19)."""

import unittest

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from pdip.configuration import Configuration, DatabaseConfig
from pdip.data import DatabaseSessionManager, Entity, RepositoryProvider, Tracked, UnitOfWork, tenant
from pdip.data.outbox import CHANGE_LOG
from tests.support import servers


class AutocommitNote(Entity, Tracked):
    __tablename__ = "pdip_autocommit_notes"

    title: Mapped[str] = mapped_column(sa.String(100))


TABLES = [AutocommitNote.__table__, CHANGE_LOG]


class AutocommitReadsTest(unittest.TestCase):
    def setUp(self):
        url = servers.postgres_url()
        config = DatabaseConfig(connection_string=url, type=sa.make_url(url).get_backend_name())
        self.database = DatabaseSessionManager(config, Configuration())
        self.addCleanup(self.database.close)
        engine = self.database.engine
        Entity.metadata.drop_all(engine, tables=TABLES)
        Entity.metadata.create_all(engine, tables=TABLES)
        self.addCleanup(Entity.metadata.drop_all, engine, tables=TABLES)
        with self.database.session() as session, session.begin():
            self.kept = session.merge(AutocommitNote(title="kept"))
        self.statements: list[tuple[str, bool]] = []  # (first word, run in autocommit)
        for seen in (engine, self.database.autocommit_engine):
            event.listen(seen, "before_cursor_execute", self._seen)
            self.addCleanup(event.remove, seen, "before_cursor_execute", self._seen)
        self.provider = RepositoryProvider(self.database)
        self.addCleanup(self.provider.close)
        self.notes = self.provider.get(AutocommitNote)

    def _seen(self, connection, _cursor, statement, _parameters, _context, _many):
        self.statements.append((statement.split(None, 1)[0].upper(), connection.connection.dbapi_connection.autocommit))

    def _titles(self) -> list[str]:
        with self.database.engine.connect() as connection:
            return list(connection.execute(sa.select(AutocommitNote.title).order_by(AutocommitNote.title)).scalars())

    def test_reads_outside_a_unit_of_work_run_in_autocommit(self):
        self.assertEqual(self.notes.get_by_id(self.kept.Id).title, "kept")
        self.assertEqual([note.title for note in self.notes.filter_by(order_by="title", limit=5)], ["kept"])
        self.assertEqual(self.notes.count(), 1)
        self.assertEqual(self.statements, [("SELECT", True)] * 3)

    def test_a_write_after_reads_runs_in_one_transaction_a_rollback_undoes(self):
        self.notes.get_by_id(self.kept.Id)
        self.notes.insert(AutocommitNote(title="never"))
        self.assertEqual(self.notes.count(), 2)  # read back before the commit: the same transaction
        self.provider.rollback()
        self.assertEqual(self.statements, [("SELECT", True), ("INSERT", False), ("SELECT", False)])
        self.assertEqual(self._titles(), ["kept"])

    def test_a_write_outside_a_unit_of_work_commits_with_its_change_log_entry(self):
        with tenant("t1"):
            self.notes.insert(AutocommitNote(title="added"))
            self.provider.commit()
        self.assertEqual(self._titles(), ["added", "kept"])
        self.assertEqual([entry.after["title"] for batch in self.database.change_log().read() for entry in batch][-1:],
                         ["added"])  # fmt: skip
        self.assertNotIn(True, {autocommit for _, autocommit in self.statements})

    def test_a_read_after_an_unflushed_change_sees_it_in_the_transaction(self):
        self.provider.session.add(AutocommitNote(title="pending"))
        self.assertEqual(self.notes.count(), 2)  # flushed first, then counted in the same transaction
        self.provider.rollback()
        self.assertEqual(self.statements, [("INSERT", False), ("SELECT", False)])
        self.assertEqual(self._titles(), ["kept"])

    def test_a_read_that_locks_rows_runs_in_a_transaction(self):
        statement = sa.select(AutocommitNote).with_for_update()
        self.assertEqual(self.provider.session.scalars(statement).one().title, "kept")
        self.assertEqual(self.statements, [("SELECT", False)])

    def test_a_unit_of_work_after_a_read_writes_in_its_transaction(self):
        self.notes.get_by_id(self.kept.Id)
        with self.assertRaises(RuntimeError), UnitOfWork(self.provider):
            self.notes.insert(AutocommitNote(title="lost"))
            self.assertEqual(self.notes.count(), 2)
            raise RuntimeError("the handler failed")
        self.assertEqual(self._titles(), ["kept"])
        self.assertEqual(self.statements[0], ("SELECT", True))
        self.assertEqual({autocommit for _, autocommit in self.statements[1:]}, {False})

    def test_reads_in_a_unit_of_work_run_in_its_transaction(self):
        with UnitOfWork(self.provider):
            self.notes.get_by_id(self.kept.Id)
        self.assertEqual(self.statements, [("SELECT", False)])

    def test_autocommit_reads_have_a_pool_of_their_own_warmed_and_closed_with_the_other(self):
        reads, writes = self.database.autocommit_engine.pool, self.database.engine.pool
        self.assertIsNot(reads, writes)
        self.database.warm(3)
        self.assertEqual((reads.checkedin(), writes.checkedin()), (3, 3))
        self.notes.get_by_id(self.kept.Id)
        self.provider.close()
        self.assertEqual((reads.checkedin(), reads.checkedout()), (3, 0))  # back in its own pool
        with self.assertRaises(sa.exc.ProgrammingError):  # a read that fails leaves its connection usable
            self.provider.session.execute(sa.select(sa.column("missing")).select_from(AutocommitNote.__table__))
        self.provider.close()
        again = RepositoryProvider(self.database)
        self.assertEqual(again.get(AutocommitNote).count(), 1)
        again.close()
        self.database.close()
        self.assertEqual((reads.checkedin(), writes.checkedin()), (0, 0))

    def test_text_statements_run_in_a_transaction(self):
        self.provider.session.execute(sa.text("SELECT 1"))
        self.assertEqual(self.statements, [("SELECT", False)])


if __name__ == "__main__":
    unittest.main()
