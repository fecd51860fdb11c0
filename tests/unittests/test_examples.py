"""The applications under examples/ run as a user would run them."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, **environment: str) -> subprocess.CompletedProcess:
    """Copy the example to a temporary folder (so it writes nothing into the repository) and run it,
    without what an earlier run of it left in the example's folder (its database, its state)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / name
        shutil.copytree(EXAMPLES / name, copy, ignore=shutil.ignore_patterns("*.db", ".pdip", "__pycache__"))
        env = {key: value for key, value in os.environ.items() if key not in ("PDIP_ENVIRONMENT", "PYTHON_ENVIRONMENT")}
        return subprocess.run(
            [sys.executable, str(copy / "app.py")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, **environment},
            cwd=folder,
        )


class InventoryExampleTest(unittest.TestCase):
    def test_the_default_environment_reports_low_stock_for_rotterdam(self):
        result = run_example("inventory")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("low stock warehouse=Rotterdam", result.stdout)
        self.assertEqual(result.stdout.splitlines()[-1], "Rotterdam: low stock bolt")

    def test_the_production_overlay_changes_warehouse_and_threshold(self):
        result = run_example("inventory", PDIP_ENVIRONMENT="production")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[-1], "Antwerp: low stock bolt, nut")


class CrudApiExampleTest(unittest.TestCase):
    def test_the_session_creates_changes_isolates_and_deletes_a_note(self):
        result = run_example("crud_api")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[-1], "acme saw ['buy oat milk'], globex saw 0 notes")
        statuses = [line.split(" -> ")[1][:3] for line in lines[:-1]]
        self.assertEqual(statuses, ["201", "400", "400", "200", "404", "200", "200", "204", "404"])
        self.assertIn("'errors': [{'field': '', 'message': 'title: must not be blank'}]", lines[1])


class ChangeStreamExampleTest(unittest.TestCase):
    def test_the_replica_matches_the_source_and_no_secret_gets_out(self):
        """`python -m examples.change_stream` from the repository root: SQLite files, and its own
        tansu broker unless the tests already have one."""
        with tempfile.TemporaryDirectory() as folder:
            env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL",)}
            env["CHANGE_STREAM_WORKDIR"] = folder
            if os.environ.get("PDIP_TEST_KAFKA_BOOTSTRAP"):
                env["KAFKA_BOOTSTRAP_SERVERS"] = os.environ["PDIP_TEST_KAFKA_BOOTSTRAP"]
            result = subprocess.run(
                [sys.executable, "-m", "examples.change_stream"],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
                cwd=EXAMPLES.parent,
            )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        summary = result.stdout.splitlines()[-1]
        self.assertRegex(summary, r"^change stream: (\d+) source rows, \1 replica rows, 0 differing; ")
        self.assertTrue(summary.endswith("secrets in Kafka: 0, in the file: 0 -> OK"), summary)


if __name__ == "__main__":
    unittest.main()
