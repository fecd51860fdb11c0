"""Every SQL database to every file format and back: the values that went out come back."""

import datetime as dt
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation
from tests.support.servers import mysql_url, postgres_url

FORMATS = {
    "csv": {"suffix": "csv", "types": {"id": "int", "amount": "float", "day": "date"}},
    "jsonl": {"suffix": "jsonl", "types": {"day": "date"}},
    "parquet": {"suffix": "parquet"},
    "excel": {"suffix": "xlsx", "types": {"day": "date"}},
}
ROWS = [
    {"id": i, "name": f"name {i}" if i % 5 else None, "amount": i * 1.25, "day": dt.date(2026, 1, 1 + i % 28)}
    for i in range(1, 41)
]


class SqlFilePairsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = Path(tempfile.mkdtemp(prefix="pdip-pairs-"))
        cls.databases = {
            "sqlite": f"sqlite:///{cls.folder / 'pairs.db'}",
            "postgresql": postgres_url(),
            "mariadb": mysql_url(),
        }
        cls.prefix = f"pairs_{uuid.uuid4().hex[:8]}"
        cls.engines = {name: sa.create_engine(url) for name, url in cls.databases.items()}
        for engine in cls.engines.values():
            table = cls.table(sa.MetaData(), "source")
            table.create(engine)
            with engine.begin() as connection:
                connection.execute(table.insert(), ROWS)

    @classmethod
    def table(cls, metadata: sa.MetaData, name: str) -> sa.Table:
        return sa.Table(
            f"{cls.prefix}_{name}",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("name", sa.String(50)),
            sa.Column("amount", sa.Float),
            sa.Column("day", sa.Date),
        )

    @classmethod
    def tearDownClass(cls):
        for engine in cls.engines.values():
            metadata = sa.MetaData()
            metadata.reflect(engine)
            for table in metadata.tables.values():
                if table.name.startswith(cls.prefix):
                    table.drop(engine)
            engine.dispose()

    def setUp(self):
        self.pdi = Pdi(root_directory=self.folder)
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        self.pdi.cleanup()

    def read_back(self, database: str, name: str) -> list[dict]:
        table = self.table(sa.MetaData(), name)
        with self.engines[database].connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings()
            return [{**row, "day": _date(row["day"])} for row in rows]

    def test_each_database_writes_each_format_and_loads_it_back(self):
        for database, url in self.databases.items():
            for kind, settings in FORMATS.items():
                with self.subTest(database=database, format=kind):
                    path = str(self.folder / f"{database}.{settings['suffix']}")
                    back = f"from_{kind}"
                    table = self.table(sa.MetaData(), back)
                    table.drop(self.engines[database], checkfirst=True)
                    table.create(self.engines[database])
                    file_settings = {"path": path}
                    if "types" in settings:
                        file_settings["types"] = settings["types"]
                    operation = Operation(
                        f"{database}-{kind}",
                        [
                            Integration(
                                "out",
                                source=Connection("sql", {"url": url, "table": f"{self.prefix}_source"}),
                                target=Connection(kind, {"path": path}),
                                batch_size=15,
                            ),
                            Integration(
                                "back",
                                source=Connection(kind, file_settings),
                                target=Connection("sql", {"url": url, "table": f"{self.prefix}_{back}"}),
                                batch_size=15,
                            ),
                        ],
                        executor="inline",
                    )
                    result = self.integrator.integrate(operation)
                    self.assertTrue(result.ok, [item.error for item in result.integrations])
                    self.assertEqual((result["out"].rows_written, result["back"].rows_written), (40, 40))
                    self.assertEqual(self.read_back(database, back), ROWS)


def _date(value):
    return value.date() if isinstance(value, dt.datetime) else value


if __name__ == "__main__":
    unittest.main()
