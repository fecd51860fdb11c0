"""The served spec is true: schemathesis, run over `/swagger.json` of the CRUD example served by
`pdip api` (gunicorn) on loopback, finds no failure (issue #19).

Bounded: a fixed seed, MAX_EXAMPLES cases per operation and phase, a timeout on the whole run.
Two of schemathesis' checks are left out, each for a reason the spec cannot express:
`positive_data_acceptance` expects every schema-valid body to be accepted, but an application
validates more than types (a blank note title is refused by the command's `validate`), and
`ensure_resource_availability` expects a created note to be found by the next request, which
schemathesis may send under another generated tenant, where it is rightly not found.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

from tests.integrationtests.api.served import served
from tests.support.servers import postgres_url

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "crud_api"
MAX_EXAMPLES = 25
RUN_TIMEOUT = 420  # seconds, for the whole run on a busy 2-core machine
LEFT_OUT = "positive_data_acceptance,ensure_resource_availability"


class SchemathesisTest(unittest.TestCase):
    def test_schemathesis_finds_no_failure_in_the_served_spec_on_sqlite(self):
        self.assertGreater(self.check_spec({}), 100)

    def test_schemathesis_finds_no_failure_in_the_served_spec_on_postgresql(self):
        # PostgreSQL refuses what SQLite stores (NUL in text, tenants over the column's length).
        url = postgres_url()
        try:
            passed = self.check_spec({"DATABASE_TYPE": "postgresql", "DATABASE_CONNECTION_STRING": url})
        finally:
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS example_notes")
            engine.dispose()
        self.assertGreater(passed, 100)

    def check_spec(self, environment: dict[str, str]) -> int:
        """Run schemathesis over the served example; the number of cases, all passed."""
        with tempfile.TemporaryDirectory(prefix="pdip-schemathesis-") as folder:
            root = Path(folder) / "crud_api"
            shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
            create = "from pdip import Pdi; from pdip.data import DatabaseSessionManager; Pdi('.').get(DatabaseSessionManager).create_all()"
            env = {**os.environ, **environment}
            subprocess.run([sys.executable, "-c", create], cwd=root, check=True, timeout=120, env=env)
            with served(root, **environment) as base:
                command = [
                    sys.executable, "-m", "schemathesis.cli", "run", f"{base}/swagger.json",
                    "--max-examples", str(MAX_EXAMPLES), "--seed", "19", "--exclude-checks", LEFT_OUT,
                    "--request-timeout", "20", "--no-color",
                ]  # fmt: skip
                run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=root)
                log = (root / "server.log").read_text()
        report = run.stdout[-6000:] + run.stderr[-2000:]
        self.assertEqual(run.returncode, 0, report)
        counted = re.search(r"(\d+) generated, (\d+) passed\s", run.stdout)
        self.assertIsNotNone(counted, report)
        self.assertEqual(counted[1], counted[2], report)
        return int(counted[2])
        self.assertNotIn("Traceback", log, log[-4000:])


if __name__ == "__main__":
    unittest.main()
