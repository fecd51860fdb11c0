"""Concurrent writers of one SQLite file queue for the write lock instead of failing (issue #19)."""

import tempfile
import threading
import unittest
from pathlib import Path

import sqlalchemy as sa

from pdip.configuration import DatabaseConfig
from pdip.data import DatabaseSessionManager
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
