"""pdip reading pdip: `pdip api` serves examples/crud_api on loopback; a REST target creates notes
through its API, one POST per row, and a REST source reads them back page by page."""

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from tests.integrationtests.api.served import served

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "crud_api"
NOTES = 120


class PdipReadsPdipTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = Path(tempfile.mkdtemp(prefix="pdip-rest-api-"))
        root = cls.folder / "crud_api"
        shutil.copytree(EXAMPLE, root)
        create = "from pdip import Pdi; from pdip.data import DatabaseSessionManager; Pdi('.').get(DatabaseSessionManager).create_all()"
        subprocess.run([sys.executable, "-c", create], cwd=root, check=True, timeout=120)
        cls.runner = cls.folder / "runner"  # the integrating application: apart from the served one
        cls.runner.mkdir()
        cls._server = served(root, API_WORKERS="1")
        cls.base = cls._server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.folder, ignore_errors=True)

    def test_notes_written_through_the_api_are_read_back_through_it_page_by_page(self):
        notes = f"{self.base}/api/Notes"
        tenant = {"X-Tenant-Id": "acme"}
        write = Integration(
            "create-notes",
            source=Connection("memory", {"store": "notes"}),
            batch_size=50,
            target=Connection("rest", {"url": notes, "headers": tenant, "send": "row"}),
        )
        read = Integration(
            "read-notes",
            target=Connection("memory", {"store": "served"}),
            batch_size=30,
            source=Connection(
                "rest",
                {
                    "url": notes,
                    "headers": tenant,
                    "columns": ["title", "body", "done"],
                    "paginate": {"page": {"size_param": "size", "size": 50}},
                },
            ),
        )
        with Pdi(root_directory=self.runner) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["notes"] = [{"title": f"note {i:03}", "body": f"body {i}"} for i in range(NOTES)]
            result = integrator.integrate(Operation("round-trip", [write, read]))
            self.assertTrue(result.ok, [item.error for item in result.integrations])
            self.assertEqual((result["create-notes"].rows_written, result["read-notes"].rows_read), (NOTES, NOTES))
            served_notes = integrator.stores.records("served")
        self.assertEqual(
            served_notes, [{"title": f"note {i:03}", "body": f"body {i}", "done": False} for i in range(NOTES)]
        )

    def test_a_note_the_api_refuses_is_dead_lettered_with_its_problem(self):
        write = Integration(
            "create-notes",
            source=Connection("memory", {"store": "notes"}),
            max_errors=1,
            target=Connection(
                "rest", {"url": f"{self.base}/api/Notes", "headers": {"X-Tenant-Id": "globex"}, "send": "row"}
            ),
        )
        with Pdi(root_directory=self.runner) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["notes"] = [{"title": "fine"}, {"title": " "}]
            result = integrator.integrate(Operation("refused", [write], executor="inline"))
        self.assertTrue(result.ok, result["create-notes"].error)
        self.assertEqual((result["create-notes"].rows_written, result["create-notes"].rows_dead_lettered), (1, 1))


if __name__ == "__main__":
    unittest.main()
