"""The API served for real: `pdip api` on loopback, spoken to over HTTP (the CRUD example app)."""

import json
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from tests.integrationtests.api.served import served

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "crud_api"
ROWS = 2500


def request(method, url, body=None, headers=None, timeout=30):
    """(status, headers, parsed JSON or text) for one HTTP request; error statuses included."""
    data = json.dumps(body).encode() if body is not None else None
    prepared = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            status, received, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, received, raw = error.code, error.headers, error.read()
    text = raw.decode()
    kind = received.get("Content-Type", "")
    return status, received, json.loads(text) if "json" in kind and text else text


class ServedApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = Path(tempfile.mkdtemp(prefix="pdip-api-server-"))
        root = cls.folder / "crud_api"
        shutil.copytree(EXAMPLE, root)
        (root / "in").mkdir()
        (root / "in" / "readings.csv").write_text("id,value\n" + "".join(f"{i},{i * 3}\n" for i in range(ROWS)))
        (root / "operations").mkdir()
        (root / "operations" / "export.yml").write_text(
            "name: export-readings\n"  # the default executor: a reader process started from a server thread
            "integrations:\n"
            "  - name: readings\n"
            "    source: {kind: csv, path: in/readings.csv}\n"
            "    target: {kind: csv, path: out/readings.csv}\n"
            "    batch_size: 1000\n"
        )
        with open(root / "application.yml", "a") as stream:
            stream.write("OPERATIONS:\n  export: operations/export.yml\n")
        cls.root = root
        # Tables are the application's to create (create_all here, Alembic in production), not `pdip api`'s.
        create = "from pdip import Pdi; from pdip.data import DatabaseSessionManager; Pdi('.').get(DatabaseSessionManager).create_all()"
        subprocess.run([sys.executable, "-c", create], cwd=root, check=True, timeout=120)
        # One gunicorn worker: a run's events are kept by the worker that started it (docs/api.md).
        cls._server = served(
            root, API_CORS_ORIGINS="https://notes.example.com", API_MAX_BODY_BYTES="2048", API_WORKERS="1"
        )
        cls.base = cls._server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.folder, ignore_errors=True)

    def test_notes_are_created_read_and_isolated_by_tenant(self):
        status, headers, note = request("POST", f"{self.base}/api/Notes", {"title": "served"}, {"X-Tenant-Id": "acme"})
        self.assertEqual(status, 201)
        self.assertEqual(headers["Location"], f"/api/Notes/{note['id']}")
        status, _, notes = request("GET", f"{self.base}/api/Notes", headers={"X-Tenant-Id": "acme"})
        self.assertIn("served", [item["title"] for item in notes])
        status, _, other = request("GET", f"{self.base}/api/Notes/{note['id']}", headers={"X-Tenant-Id": "globex"})
        self.assertEqual((status, other["status"]), (404, 404))

    def test_errors_are_problem_documents_over_http(self):
        status, headers, problem = request("POST", f"{self.base}/api/Notes", {"title": 5}, {"X-Tenant-Id": "acme"})
        self.assertEqual((status, headers["Content-Type"]), (400, "application/problem+json"))
        self.assertEqual(problem["errors"], [{"field": "title", "in": "body", "message": "expected str, got 5"}])
        status, _, problem = request("POST", f"{self.base}/api/Notes", {"title": "x" * 5000}, {"X-Tenant-Id": "acme"})
        self.assertEqual((status, problem["status"]), (413, 413))
        status, _, problem = request("PATCH", f"{self.base}/api/Notes", {}, {"X-Tenant-Id": "acme"})
        self.assertEqual(status, 405)

    def test_cors_preflight_names_the_configured_origin(self):
        status, headers, _ = request(
            "OPTIONS",
            f"{self.base}/api/Notes",
            headers={"Origin": "https://notes.example.com", "Access-Control-Request-Method": "POST"},
        )
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://notes.example.com")

    def test_swagger_ui_and_its_assets_are_served_locally(self):
        status, headers, page = request("GET", f"{self.base}/api/docs")
        self.assertEqual((status, headers["Content-Type"].split(";")[0]), (200, "text/html"))
        self.assertIn("/swaggerui/swagger-ui-bundle.js", page)
        status, _, script = request("GET", f"{self.base}/swaggerui/swagger-ui-bundle.js")
        self.assertEqual(status, 200)
        self.assertGreater(len(script), 100_000)

    def test_an_operation_runs_in_the_background_and_its_events_stream(self):
        status, headers, started = request("POST", f"{self.base}/api/operations/export/executions")
        self.assertEqual(status, 202)
        with urllib.request.urlopen(f"{self.base}{headers['Location']}/events", timeout=60) as stream:
            self.assertEqual(stream.headers["Content-Type"].split(";")[0], "text/event-stream")
            names = [
                line.split(": ", 1)[1].strip()
                for line in stream.read().decode().splitlines()
                if line.startswith("event: ")
            ]
        self.assertEqual(names[0], "OperationStarted")
        self.assertEqual(names[-1], "OperationFinished")
        self.assertEqual(names.count("BatchWritten"), 3)
        status, _, execution = request("GET", f"{self.base}/api/executions/{started['execution_id']}")
        self.assertEqual((status, execution["status"], execution["rows_written"]), (200, "finished", ROWS))
        self.assertEqual(len((self.root / "out" / "readings.csv").read_text().splitlines()), ROWS + 1)
        status, _, listed = request("GET", f"{self.base}/api/executions?limit=5")
        self.assertIn(started["execution_id"], [item["execution_id"] for item in listed])


if __name__ == "__main__":
    unittest.main()
