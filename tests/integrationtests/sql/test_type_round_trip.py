"""Every type of the one type map, through each store and back: an Arrow table in memory (which
declares every type) is written to a target pdip creates, read back from it by pdip, and each
value compared, with the column types the store was given. What a store cannot keep is said here
and in docs/integrator.md ("Types"), never silently different."""

import datetime as dt
import json
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow
import pyarrow.parquet
import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from tests.support import servers

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
AT = dt.datetime(2026, 12, 5, 10, 30, 15, 123456)
SCHEMA = pyarrow.schema(
    [
        ("small", pyarrow.int16()),
        ("medium", pyarrow.int32()),
        ("big", pyarrow.int64()),
        ("amount", pyarrow.decimal128(12, 2)),
        ("ratio", pyarrow.float64()),
        ("label", pyarrow.string()),
        ("flag", pyarrow.bool_()),
        ("day", pyarrow.date32()),
        ("at", pyarrow.timestamp("us")),
        ("at_utc", pyarrow.timestamp("us", tz="UTC")),
        ("id", pyarrow.uuid()),
        ("doc", pyarrow.json_()),
        ("blob", pyarrow.binary()),
    ]
)
ROWS = [
    {
        "small": -32768,
        "medium": 2**31 - 1,
        "big": -(2**63),
        "amount": Decimal("1234567890.12"),
        "ratio": 0.1,
        "label": "é ü 漢 'quoted' \"twice\"",
        "flag": True,
        "day": dt.date(2026, 12, 5),
        "at": AT,
        "at_utc": AT.replace(tzinfo=dt.timezone.utc),
        "id": ID,
        "doc": '{"a": [1, 2]}',
        "blob": b"\x00\xff\n",
    },
    {
        "small": 32767,
        "medium": -(2**31),
        "big": 2**63 - 1,
        "amount": Decimal("-0.01"),
        "ratio": -2.5e300,
        "label": "",
        "flag": False,
        "day": dt.date(1, 1, 1),
        "at": dt.datetime(1999, 12, 31, 23, 59, 59),
        "at_utc": dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
        "id": uuid.UUID(int=0),
        "doc": "[]",
        "blob": b"",
    },
    dict.fromkeys(SCHEMA.names),
]


class RoundTrip:
    """Subclasses give `target(folder)`, the connection settings of the store, and say what
    it keeps differently (`expected`)."""

    kind = "sql"

    def target(self, folder: Path) -> dict:  # pragma: no cover - each store's class gives its own
        raise NotImplementedError

    def expected(self, row: dict) -> dict:
        """A JSON value comes back as the object its text spells, from every store."""
        return {**row, "doc": row["doc"] and json.loads(row["doc"])}

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-types-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.table = f"types_{uuid.uuid4().hex[:8]}"
        self.pdi = Pdi(str(self.folder)).__enter__()
        self.addCleanup(self.pdi.__exit__, None, None, None)

    def test_every_type_comes_back_as_it_went_in(self):
        settings = self.target(self.folder)
        integrator = self.pdi.get(Integrator)
        integrator.stores["source"] = pyarrow.Table.from_pylist(ROWS, schema=SCHEMA)
        there = Integration(
            "there",
            source=Connection("memory", {"store": "source"}),
            target=Connection(self.kind, settings),
            create_target=True,
        )
        back = Integration(
            "back", source=Connection(self.kind, settings), target=Connection("memory", {"store": "back"})
        )
        result = integrator.integrate(Operation("round-trip", [there, back], executor="inline"))
        letters = [letter["reason"] for letter in integrator.state.dead_letters(result.execution_id)]
        self.assertTrue(result.ok, [item.error for item in result.integrations] + letters)
        self.assertEqual(result["there"].rows_dead_lettered, 0)
        came_back = sorted(integrator.stores["back"], key=lambda row: (row["small"] is None, row["small"] or 0))
        wanted = sorted((self.expected(row) for row in ROWS), key=lambda row: (row["small"] is None, row["small"] or 0))
        for got, expected in zip(came_back, wanted, strict=True):
            for name in SCHEMA.names:
                self.assertEqual((name, got[name]), (name, expected[name]))
                if expected[name] is not None:
                    self.assertIs(type(got[name]), type(expected[name]), name)


class SqlRoundTrip(RoundTrip):
    url = ""

    def target(self, folder: Path) -> dict:
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        self.addCleanup(self._drop)
        return {"url": self.url, "table": self.table}

    def _drop(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")


class SqliteRoundTrip(SqlRoundTrip, unittest.TestCase):
    """SQLite has no time zones, no UUID and keeps a decimal as a double (15 digits)."""

    def target(self, folder: Path) -> dict:
        self.url = f"sqlite:///{folder / 'types.db'}"
        return super().target(folder)

    def expected(self, row: dict) -> dict:
        return {
            **super().expected(row),
            "at_utc": row["at_utc"] and row["at_utc"].replace(tzinfo=None),
            "id": row["id"] and row["id"].hex,
        }


class PostgresRoundTrip(SqlRoundTrip, unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        super().setUp()


class MariaDbRoundTrip(SqlRoundTrip, unittest.TestCase):
    """MariaDB's DATETIME has no time zone: an instant comes back as its UTC wall-clock time."""

    def setUp(self):
        self.url = servers.mysql_url()
        super().setUp()

    def expected(self, row: dict) -> dict:
        return {**super().expected(row), "at_utc": row["at_utc"] and row["at_utc"].replace(tzinfo=None)}


class MariaDbReflectionTest(unittest.TestCase):
    def test_json_columns_are_told_from_other_longtext_by_their_check(self):
        from pdip.integrator.adapters.base import ReadRequest
        from pdip.integrator.adapters.sql.rows import SqlSource

        url, table = servers.mysql_url(), f"json_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {table} (doc JSON, more JSON, notes LONGTEXT, flag BOOLEAN)")
        self.addCleanup(SqlRoundTrip._drop, type("T", (), {"engine": engine, "table": table})())
        source = SqlSource(Connection("sql", {"url": url, "table": table}), None)
        self.addCleanup(source.close)
        kinds = dict(zip(["doc", "more", "notes", "flag"], source.schema(ReadRequest(10)).types, strict=True))
        self.assertIsInstance(kinds["doc"], sa.JSON)
        self.assertIsInstance(kinds["more"], sa.JSON)
        self.assertNotIsInstance(kinds["notes"], sa.JSON)
        self.assertIsInstance(kinds["flag"], sa.Boolean)


class ParquetRoundTrip(RoundTrip, unittest.TestCase):
    kind = "parquet"

    def target(self, folder: Path) -> dict:
        return {"path": str(folder / "types.parquet")}

    def test_the_file_has_the_arrow_types(self):
        self.test_every_type_comes_back_as_it_went_in()
        self.assertEqual(pyarrow.parquet.read_schema(self.folder / "types.parquet"), SCHEMA)


CSV_SCHEMA = pyarrow.schema(
    [
        ("big", pyarrow.int64()),
        ("ratio", pyarrow.float64()),
        ("amount", pyarrow.decimal128(12, 2)),
        ("flag", pyarrow.bool_()),
        ("label", pyarrow.string()),
        ("day", pyarrow.date32()),
        ("at_utc", pyarrow.timestamp("us", tz="UTC")),
    ]
)
CSV_TYPES = {
    "big": "int",
    "ratio": "float",
    "amount": "decimal",
    "flag": "bool",
    "label": "text",
    "day": "date",
    "at_utc": "datetime",
}


class CsvRoundTrip(unittest.TestCase):
    """A CSV file holds text: read back with the `types:` names of the map, each value is what
    was written, and a column's NULL is an empty field (read back as NULL, text too)."""

    def test_every_type_with_a_file_name_comes_back_through_its_types_name(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-types-")
        self.addCleanup(folder.cleanup)
        path = str(Path(folder.name) / "types.csv")
        rows = [{name: row[name] for name in CSV_SCHEMA.names} for row in ROWS]
        rows[1]["label"] = 'a, "quoted" line\nand another'
        with Pdi(folder.name) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["source"] = pyarrow.Table.from_pylist(rows, schema=CSV_SCHEMA)
            there = Integration(
                "there", source=Connection("memory", {"store": "source"}), target=Connection("csv", {"path": path})
            )
            back = Integration(
                "back",
                source=Connection("csv", {"path": path, "types": CSV_TYPES}),
                target=Connection("memory", {"store": "back"}),
            )
            result = integrator.integrate(Operation("csv-round-trip", [there, back], executor="inline"))
            self.assertTrue(result.ok, [item.error for item in result.integrations])
            came_back = integrator.stores["back"]
        self.assertEqual(came_back[:2], rows[:2])
        self.assertEqual(came_back[2], {**rows[2], "label": None})
        for got, sent in zip(came_back[:2], rows[:2], strict=True):
            self.assertEqual(
                {name: type(value) for name, value in got.items()}, {name: type(value) for name, value in sent.items()}
            )


if __name__ == "__main__":
    unittest.main()
