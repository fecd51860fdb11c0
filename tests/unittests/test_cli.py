import contextlib
import io
import runpy
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import pdip
from pdip.cli import main
from tests.support.apps import application


def run(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(arguments))
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


class CliTest(unittest.TestCase):
    def test_python_dash_m_pdip_prints_the_version(self):
        result = subprocess.run([sys.executable, "-m", "pdip", "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), f"pdip {pdip.__version__}")

    def test_the_module_entry_point_runs_main(self):
        with mock.patch.object(sys, "argv", ["pdip", "--version"]), contextlib.redirect_stdout(io.StringIO()) as out:
            with self.assertRaises(SystemExit) as raised:
                runpy.run_module("pdip", run_name="__main__")
        self.assertEqual(raised.exception.code, 0)
        self.assertIn(pdip.__version__, out.getvalue())

    def test_without_a_command_help_is_printed(self):
        code, out, _ = run()
        self.assertEqual(code, 0)
        self.assertIn("demo", out)
        self.assertIn("check", out)

    def test_check_reports_a_wired_application(self):
        files = {
            "application.yml": "APPLICATION:\n  NAME: checked\n",
            "{pkg}/__init__.py": "",
            "{pkg}/s.py": "from pdip.dependency import ISingleton\nclass S(ISingleton):\n    pass\n",
        }
        with application(files) as (root, _):
            code, out, _ = run("check", str(root))
        self.assertEqual(code, 0)
        self.assertIn("1 classes discovered, application.yml: OK", out)

    def test_check_exits_2_and_explains_a_broken_application(self):
        with application({"application.yml": "API:\n  PORT: [1\n"}) as (root, _):
            code, _, err = run("check", str(root))
        self.assertEqual(code, 2)
        self.assertIn("application.yml, line", err)

    def test_demo_runs_the_main_job_csv_to_sqlite_to_parquet_to_memory(self):
        with tempfile.TemporaryDirectory() as folder:
            code, out, _ = run("demo", "--directory", folder, "--rows", "970")
            again, _, _ = run("demo", "--directory", folder, "--rows", "970")  # a second run replaces, never appends
            import sqlite3

            import pyarrow.parquet

            with sqlite3.connect(Path(folder) / "readings.db") as database:
                stored = database.execute("SELECT count(*) FROM readings").fetchone()[0]
            good = pyarrow.parquet.read_table(Path(folder) / "good_readings.parquet").num_rows
        self.assertEqual((code, again), (0, 0))
        self.assertEqual((stored, good), (970, 960))  # every 97th reading is flagged bad
        self.assertRegex(out, r"csv-to-sqlite +970 rows")
        self.assertRegex(out, r"parquet-to-memory +960 rows")
        self.assertIn("pdip demo finished in", out)
        self.assertIn("970 readings, 960 good ones in memory", out)


if __name__ == "__main__":
    unittest.main()


class OperationCommandsTest(unittest.TestCase):
    OPERATION = "name: tiny\nintegrations:\n  - name: a\n    source: {kind: memory, store: empty}\n    target: {kind: memory, store: out}\n"

    def test_validate_run_and_executions(self):
        with application({"op.yml": self.OPERATION, "bad.yml": "integrations: []\n"}) as (root, _):
            code, out, _ = run("validate", str(root / "op.yml"))
            self.assertEqual((code, out.strip()), (0, "tiny: 1 integrations, valid"))
            code, _, err = run("validate", str(root / "bad.yml"))
            self.assertEqual(code, 2)
            self.assertIn("bad.yml: integrations: expected a list", err)
            code, _, err = run("run", str(root / "bad.yml"))
            self.assertEqual(code, 2)
            code, out, _ = run("run", str(root / "op.yml"), "--execution-id", "cli-1", "--executor", "process")
            self.assertEqual(code, 1)  # the memory store `empty` does not exist in a new process
            self.assertIn("a: failed, 0 read", out)
            self.assertIn("tiny failed in", out)
            code, out, _ = run("executions", "--root", str(root))
            self.assertEqual(code, 0)
            self.assertRegex(out, r"cli-1 +tiny +failed")
            code, _, err = run("run", str(root / "missing.yml"))
            self.assertEqual(code, 2)
            self.assertIn("missing.yml", err)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class ProgressInTerminalTest(unittest.TestCase):
    def test_a_terminal_gets_a_progress_bar_and_no_progress_turns_it_off(self):
        operation = "name: p\nintegrations:\n  - name: only\n    source: {kind: memory, store: none}\n    target: {kind: memory, store: out}\n"
        with application({"op.yml": operation}) as (root, _):
            screen = _Terminal()
            with contextlib.redirect_stdout(screen), contextlib.redirect_stderr(io.StringIO()):
                code = main(["run", str(root / "op.yml")])
            plain = _Terminal()
            with contextlib.redirect_stdout(plain), contextlib.redirect_stderr(io.StringIO()):
                main(["run", str(root / "op.yml"), "--no-progress"])
        self.assertEqual(code, 1)
        self.assertIn("failed", screen.getvalue())
        self.assertIn("rows/s", screen.getvalue())  # the progress bar's rate column
        self.assertNotIn("rows/s", plain.getvalue())
