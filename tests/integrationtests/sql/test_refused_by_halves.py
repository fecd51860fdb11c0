"""A refused batch is searched by halves (rows.SqlTarget._kept_of): a file of 10,000 CSV records
in one batch, three of them refused (a CHECK, a malformed record, a value its column cannot
hold), on PostgreSQL, MariaDB and SQLite. The three are dead-lettered with the database's reason
and their line, the 9,997 others written, and the savepoints opened to find them are counted:
about 2 x 3 x log2(10,000) of them, not one per row."""

import contextlib
import io
import math
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from tests.support import servers

ROWS = 10_000
CHECKED, MALFORMED, TOO_LONG = 2_500, 5_000, 7_500  # ids of the three refused records


class RefusedByHalves:
    """The scenario, for one database (`url()`, `long_label`: how its column refuses a long text)."""

    long_label = "label varchar(5)"

    def url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.engine = sa.create_engine(self.url())
        self.table = f"halves_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.table} (id integer CHECK (id <> {CHECKED}), {self.long_label})"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-halves-"))
        self.pdi = Pdi(root_directory=self.folder)
        self.savepoints = 0
        sa.event.listen(sa.Engine, "savepoint", self._counted)
        self.addCleanup(sa.event.remove, sa.Engine, "savepoint", self._counted)

    def _counted(self, connection: sa.Connection, name: str) -> None:
        if connection.engine.url.database == self.engine.url.database:
            self.savepoints += 1

    def tearDown(self):
        self.pdi.cleanup()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
        self.engine.dispose()

    def records(self) -> str:
        lines = ["id,label"]
        for number in range(1, ROWS + 1):
            label = "far too long" if number == TOO_LONG else f"r{number % 1000}"
            lines.append(f"{number}" if number == MALFORMED else f"{number},{label}")
        return "\n".join(lines) + "\n"

    def test_three_refused_rows_are_found_by_halves_and_the_others_written(self):
        (self.folder / "in.csv").write_text(self.records())
        integration = Integration(
            "halves",
            source=Connection("csv", {"path": "in.csv"}),
            target=Connection("sql", {"url": self.url(), "table": self.table}),
            batch_size=ROWS,
            max_errors=10,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.pdi.get(Integrator).integrate(Operation("halves", [integration], executor="inline"))
        outcome = result.integrations[0]
        self.assertTrue(result.ok, outcome.error)
        self.assertEqual((outcome.rows_written, outcome.rows_dead_lettered), (ROWS - 3, 3))
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        malformed = f"in.csv:{MALFORMED + 1}: expected 2 fields, got 1"
        self.assertEqual(sorted(letter["reason"] == malformed for letter in letters), [False, False, True])
        refused = {int(letter["row"]["id"]): letter for letter in letters if letter["reason"] != malformed}
        self.assertEqual(sorted(refused), [CHECKED, TOO_LONG])
        self.assertEqual(refused[CHECKED]["position"], {"file": "in.csv", "line": CHECKED + 1})
        self.assertEqual(refused[TOO_LONG]["position"], {"file": "in.csv", "line": TOO_LONG + 1})
        self.assertRegex(refused[CHECKED]["reason"], "(?i)check|constraint")
        self.assertRegex(refused[TOO_LONG]["reason"], "(?i)too long|length")
        with self.engine.connect() as connection:
            count, total = connection.exec_driver_sql(f"SELECT count(*), sum(id) FROM {self.table}").one()
        self.assertEqual((count, total), (ROWS - 3, ROWS * (ROWS + 1) // 2 - CHECKED - MALFORMED - TOO_LONG))
        self.assertLessEqual(self.savepoints, 2 * 3 * math.ceil(math.log2(ROWS)) + 1)


class PostgresRefusedByHalvesTest(RefusedByHalves, unittest.TestCase):
    def url(self) -> str:
        return servers.postgres_url()


class MariadbRefusedByHalvesTest(RefusedByHalves, unittest.TestCase):
    def url(self) -> str:
        return servers.mysql_url()


class SqliteRefusedByHalvesTest(RefusedByHalves, unittest.TestCase):
    long_label = "label text CHECK (length(label) <= 5)"  # SQLite stores any length in a varchar(5)

    def url(self) -> str:
        if not hasattr(self, "file"):
            self.file = Path(tempfile.mkdtemp(prefix="pdip-halves-db-")) / "target.db"
        return f"sqlite:///{self.file}"
