"""Tenant A cannot read or change tenant B's rows through the API, on PostgreSQL and MariaDB."""

import unittest

import sqlalchemy as sa

from pdip import Pdi
from pdip.api import ApiApp, hash_key
from pdip.data import DatabaseSessionManager
from tests.support import servers
from tests.support.apps import application

FILES = {
    "{pkg}/__init__.py": "",
    "{pkg}/ledger.py": """
        import uuid

        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column

        from pdip.api import ControllerBase
        from pdip.cqrs.decorators import dtoclass
        from pdip.data import Entity, EntityNotFoundError, RepositoryProvider


        class Entry(Entity):
            __tablename__ = "{pkg}_entries"
            label: Mapped[str] = mapped_column(String(100))


        @dtoclass
        class EntryInput:
            label: str


        class EntriesController(ControllerBase):
            def __init__(self, provider: RepositoryProvider):
                self.provider = provider

            def get(self, id: uuid.UUID | None = None):
                entries = self.provider.get(Entry)
                if id is None:
                    return sorted(entry.label for entry in entries.get())
                entry = entries.get_by_id(id)
                if entry is None:
                    raise EntityNotFoundError("Entry", id)
                return {"id": entry.Id, "label": entry.label, "tenant": entry.TenantId}

            def post(self, entry: EntryInput):
                created = self.provider.get(Entry).insert(Entry(label=entry.label))
                self.provider.commit()
                return {"id": created.Id}, 201

            def put(self, id: uuid.UUID, entry: EntryInput):
                entries = self.provider.get(Entry)
                found = entries.get_by_id(id)
                if found is None:
                    raise EntityNotFoundError("Entry", id)
                found.label = entry.label
                entries.update(found)
                self.provider.commit()
                return {"id": found.Id}

            def delete(self, id: uuid.UUID):
                self.provider.get(Entry).delete(id)
                self.provider.commit()
    """,
}

KEY_A, KEY_B = "key-of-tenant-a-0123456789", "key-of-tenant-b-0123456789"
KEYS = [
    {"NAME": "a-service", "HASH": hash_key(KEY_A), "TENANTS": ["tenant-a"], "TENANT": "tenant-a"},
    {"NAME": "b-service", "HASH": hash_key(KEY_B), "TENANTS": ["tenant-b"], "TENANT": "tenant-b"},
]


class TenantIsolation:
    """The contract; each subclass names its server."""

    database_type = "postgresql"

    def server_url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self._app = application(FILES)
        root, _ = self._app.__enter__()
        configuration = {
            "DATABASE": {"TYPE": self.database_type, "CONNECTION_STRING": self.server_url()},
            "API": {"AUTHENTICATION": "api_key", "KEYS": KEYS, "EXECUTIONS": False},
        }
        self.pdi = Pdi(root, configurations=configuration)
        self.engine = self.pdi.get(DatabaseSessionManager).engine
        self.entries = next(cls for cls in self.pdi.discovered.classes if cls.__name__ == "Entry").__table__
        self.entries.create(self.engine)
        self.client = self.pdi.get(ApiApp).test_client()

    def tearDown(self):
        self.entries.drop(self.engine, checkfirst=True)
        self.entries.metadata.remove(self.entries)
        self.pdi.cleanup()
        self._app.__exit__(None, None, None)

    def call(self, method, url, key, **options):
        return getattr(self.client, method)(url, headers={"X-API-Key": key, **options.pop("headers", {})}, **options)

    def test_a_tenant_reads_and_changes_only_its_own_rows(self):
        a_ids = [self.call("post", "/api/Entries", KEY_A, json={"label": f"a{i}"}).get_json()["id"] for i in range(3)]
        b_id = self.call("post", "/api/Entries", KEY_B, json={"label": "b0"}).get_json()["id"]

        self.assertEqual(self.call("get", "/api/Entries", KEY_A).get_json(), ["a0", "a1", "a2"])
        self.assertEqual(self.call("get", "/api/Entries", KEY_B).get_json(), ["b0"])
        self.assertEqual(self.call("get", f"/api/Entries/{b_id}", KEY_B).get_json()["tenant"], "tenant-b")

        stolen = self.call("get", f"/api/Entries/{a_ids[0]}", KEY_B)
        self.assertEqual(stolen.status_code, 404)
        self.assertNotIn('"a0"', stolen.get_data(as_text=True))  # quoted: ids are hex and may hold a0
        self.assertEqual(self.call("put", f"/api/Entries/{a_ids[0]}", KEY_B, json={"label": "mine"}).status_code, 404)

        with self.engine.connect() as connection:
            labels = dict(connection.execute(sa.select(self.entries.c.label, self.entries.c.TenantId)).all())
        self.assertEqual(labels, {"a0": "tenant-a", "a1": "tenant-a", "a2": "tenant-a", "b0": "tenant-b"})

    def test_a_key_naming_another_tenant_is_refused_before_any_query(self):
        self.call("post", "/api/Entries", KEY_A, json={"label": "a0"})
        response = self.call("get", "/api/Entries", KEY_B, headers={"X-Tenant-Id": "tenant-a"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.mimetype, "application/problem+json")
        self.assertNotIn('"a0"', response.get_data(as_text=True))
        self.assertEqual(self.call("get", "/api/Entries", "no-such-key").status_code, 401)


class PostgresTenantIsolationTest(TenantIsolation, unittest.TestCase):
    def server_url(self) -> str:
        return servers.postgres_url()


class MariaDbTenantIsolationTest(TenantIsolation, unittest.TestCase):
    database_type = "mysql"

    def server_url(self) -> str:
        return servers.mysql_url()


if __name__ == "__main__":
    unittest.main()
