"""Concurrent writers of one SQLite file queue for the write lock instead of failing (issue #19)."""

import tempfile
import threading
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.configuration import DatabaseConfig
from pdip.data import DatabaseSessionManager, RepositoryProvider
from pdip.data.session import _engine_options

WRITERS, ROWS = 16, 15


class SqliteWritersTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory(prefix="pdip-sqlite-")
        self.config = DatabaseConfig(type="sqlite", database=str(Path(self.folder.name) / "app.db"), busy_timeout=20)

    def tearDown(self):
        self.folder.cleanup()

    def test_the_busy_timeout_is_configured(self):
        self.assertEqual(_engine_options(self.config.url(), self.config)["connect_args"], {"timeout": 20})

    def test_sixteen_threads_reading_then_writing_lose_nothing(self):
        from pdip.configuration import Configuration

        manager = DatabaseSessionManager(self.config, Configuration(root_directory=self.folder.name))
        try:
            with manager.engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE counts (writer INTEGER, n INTEGER)")
            failures = []

            def write(writer):
                for _ in range(ROWS):
                    try:
                        with manager.session() as session, session.begin():
                            seen = session.execute(sa.text("SELECT count(*) FROM counts")).scalar_one()
                            session.execute(sa.text("INSERT INTO counts VALUES (:w, :n)"), {"w": writer, "n": seen})
                    except Exception as error:  # counted and asserted below
                        failures.append(repr(error))

            threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.assertEqual(failures, [])
            with manager.engine.connect() as connection:
                counted = connection.exec_driver_sql("SELECT count(*), count(DISTINCT n) FROM counts").one()
                journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
            self.assertEqual(tuple(counted), (WRITERS * ROWS, WRITERS * ROWS))  # each saw every earlier write
            self.assertEqual(journal, "wal")
        finally:
            manager.close()

    def test_reading_sessions_do_not_queue_for_the_write_lock(self):
        from pdip.configuration import Configuration

        config = DatabaseConfig(type="sqlite", database=self.config.database, busy_timeout=0.2)
        manager = DatabaseSessionManager(config, Configuration(root_directory=self.folder.name))
        self.addCleanup(manager.close)
        with manager.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE counts (n INTEGER)")
        with manager.session() as writer, writer.begin():
            writer.execute(sa.text("INSERT INTO counts VALUES (1)"))  # holds the write lock until the end
            with manager.session(writes=False) as reader, reader.begin():
                self.assertEqual(reader.execute(sa.text("SELECT count(*) FROM counts")).scalar_one(), 0)
            with self.assertRaisesRegex(sa.exc.OperationalError, "database is locked"):
                with manager.session() as other, other.begin():
                    other.execute(sa.text("SELECT count(*) FROM counts"))

    def test_a_provider_writes_inside_a_unit_of_work_and_reads_outside_one(self):
        from pdip.configuration import Configuration

        manager = DatabaseSessionManager(self.config, Configuration(root_directory=self.folder.name))
        self.addCleanup(manager.close)
        reading = RepositoryProvider(manager)
        self.assertIs(reading.session.get_bind(), manager.bind(writes=False))
        reading.begin()  # a session made before the unit of work began writes from now on
        self.assertIs(reading.session.get_bind(), manager.bind(writes=True))
        reading.end(failed=False)
        writing = RepositoryProvider(manager)
        writing.begin()
        self.assertIs(writing.session.get_bind(), manager.bind(writes=True))
        writing.end(failed=True)
        self.assertIsNot(manager.bind(writes=True), manager.bind(writes=False))
