import unittest

from tests.support.apps import application
from tests.unittests.test_cli import run

TYPO = """\
name: typo
integrations:
  - name: a
    source: {kind: memory, store: s}
    target:
      kind: sqlite
      databse: out.db
      table: t
  - name: b
    source: {kind: memory, store: s}
    target: {kind: postgresql, hots: db.example.com, table: t}
"""
GOOD = """\
name: good
integrations:
  - name: ddl
    target: {kind: sqlite, database: out.db}
    sql: CREATE TABLE IF NOT EXISTS t (id integer)
  - name: files
    source: {kind: csv, path: in.csv, types: {id: int}}
    target: {kind: parquet, path: out.parquet}
"""


class ValidateTest(unittest.TestCase):
    def test_misspelt_settings_exit_2_naming_each_line_and_the_valid_name(self):
        with application({"op.yml": TYPO}) as (root, _):
            for command in ("validate", "run"):
                code, out, err = run(command, str(root / "op.yml"))
                self.assertEqual(code, 2, out)
                self.assertIn(f"pdip {command}: 2 problems", err)
                self.assertRegex(err, r"op.yml:7: integrations\[0\].target.databse: .*did you mean 'database'\?")
                self.assertRegex(err, r"op.yml:11: integrations\[1\].target.hots: .*did you mean 'host'\?")
            self.assertFalse((root / "out.db").exists())  # nothing ran

    def test_a_valid_operation_validates_runs_and_is_checked_for_the_executor(self):
        files = {"op.yml": GOOD, "in.csv": "id\n1\n2\n"}
        with application(files) as (root, _):
            self.assertEqual(run("validate", str(root / "op.yml"))[:2], (0, "good: 2 integrations, valid\n"))
            code, out, _ = run("run", str(root / "op.yml"), "--executor", "inline")
            self.assertEqual(code, 0, out)
            self.assertIn("files: finished, 2 read, 2 written", out)
            code, _, err = run("validate", "--executor", "dask", str(root / "op.yml"))
        self.assertEqual(code, 2)
        self.assertIn("op.yml: integration 'files': a parquet target is written whole at the end", err)

    def test_settings_adapters_and_the_executor_are_reported_in_one_pass(self):
        both = TYPO.replace("  - name: b\n", "  - name: b\n    parallelism: 2\n")
        with application({"op.yml": both}) as (root, _):
            code, _, err = run("validate", str(root / "op.yml"), "--executor", "dask")
        self.assertEqual(code, 2)
        self.assertIn("pdip validate: 5 problems", err)
        self.assertRegex(err, r"op.yml:7: integrations\[0\].target.databse: .*did you mean 'database'\?")
        self.assertIn("op.yml: integration 'b': parallelism: 2, but a memory source is read whole", err)
        self.assertIn("op.yml: integration 'a': a memory source lives in the calling process", err)

    def test_an_executor_the_registry_does_not_know_is_refused_before_anything_runs(self):
        with application({"op.yml": GOOD}) as (root, _):
            code, _, err = run("run", str(root / "op.yml"), "--executor", "cluster")
            self.assertEqual(code, 2)
            self.assertIn("pdip run: --executor: expected one of inline, process, dask, got 'cluster'", err)
            self.assertFalse((root / "out.db").exists())

    def test_unknown_kinds_and_connections_from_application_yml_are_named(self):
        files = {
            "application.yml": "CONNECTIONS:\n  dw: {KIND: postgresql, HOTS: db}\n",
            "op.yml": "integrations:\n  - {name: a, source: {connection: dw, table: t}, target: {kind: sqllite}}\n",
        }
        with application(files) as (root, _):
            code, _, err = run("validate", str(root / "op.yml"))
        self.assertEqual(code, 2)
        self.assertRegex(err, r"application.yml:2: CONNECTIONS.dw.hots: unknown setting .*did you mean 'host'\?")
        self.assertRegex(err, r"op.yml:2: integrations\[0\].target.kind: no adapter for connection kind 'sqllite'")

    def test_broken_yaml_is_one_line_for_every_command_never_a_traceback(self):
        texts = {"a: &x [*x]\n": "an alias refers to a value that contains it", "a: [\n": "invalid YAML"}
        for text, message in texts.items():
            with application({"op.yml": text}) as (root, _):
                for command in ("validate", "run"):
                    code, _, err = run(command, str(root / "op.yml"))
                    self.assertEqual(code, 2)
                    self.assertEqual(err.count("\n"), 1, err)
                    self.assertIn(message, err)
            with application({"application.yml": text}) as (root, _):
                code, _, err = run("check", str(root))
                self.assertEqual((code, err.count("\n")), (2, 1), err)
                self.assertIn(message, err)
        with application({"op.yml": "x"}) as (root, _):
            (root / "op.yml").write_bytes(b"name: caf\xe9\n")
            code, _, err = run("validate", str(root / "op.yml"))
        self.assertEqual(code, 2)
        self.assertIn("op.yml, line 1: not UTF-8 text", err)


class CheckTest(unittest.TestCase):
    def test_pdip_sections_and_connections_are_checked_even_when_unused(self):
        files = {
            "application.yml": (
                "DATABASE:\n  TYPE: sqlite\n  HOTS: x\nINTEGRATOR:\n  BACH_SIZE: 1\nMINE:\n  ANYTHING: 1\n"
                "CONNECTIONS:\n  dw: {KIND: postgresql, HOST: db, ENTITIES: [a], TABEL: t}\n  bad: {STORE: x}\n"
            )
        }
        with application(files) as (root, _):
            code, _, err = run("check", str(root))
        self.assertEqual(code, 2)
        self.assertIn("pdip check: 4 problems", err)
        self.assertRegex(err, r"application.yml:3: DATABASE.HOTS: unknown key .*did you mean HOST\?")
        self.assertIn("application.yml:5: INTEGRATOR.BACH_SIZE: unknown key", err)
        self.assertRegex(err, r"application.yml:9: CONNECTIONS.dw.tabel: unknown setting .*did you mean 'table'\?")
        self.assertIn("application.yml:10: CONNECTIONS.bad: expected a mapping with a `kind`", err)
        self.assertNotIn("MINE", err)  # the application's own section is its business
        self.assertNotIn("entities", err)  # a change-log setting of the kind
        with application({"application.yml": "CONNECTIONS: [1]\n"}) as (root, _):
            code, _, err = run("check", str(root))
        self.assertEqual(code, 2)
        self.assertIn("application.yml:1: CONNECTIONS: expected a mapping of names", err)


if __name__ == "__main__":
    unittest.main()
