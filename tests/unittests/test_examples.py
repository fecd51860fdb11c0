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
    """Copy the example to a temporary folder (so it writes nothing into the repository) and run it."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / name
        shutil.copytree(EXAMPLES / name, copy)
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


if __name__ == "__main__":
    unittest.main()
