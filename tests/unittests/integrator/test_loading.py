import tempfile
import textwrap
import unittest
from pathlib import Path

from pdip.configuration import ConfigurationError
from pdip.integrator import Operation, OperationError


def write(text: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="pdip-op-")) / "op.yml"
    path.write_text(textwrap.dedent(text))
    return path


VALID = """
    name: nightly
    connections:
      scratch: {kind: memory, store: base}
    integrations:
      - name: copy
        source: {connection: scratch, store: "${SOURCE_STORE:-orders}"}
        target: {kind: memory, store: copy}
        batch_size: "500"
        mode: incremental
        cursor: id
        columns: [id, amount]
"""


class LoadingTest(unittest.TestCase):
    def test_a_valid_operation_loads_with_named_connections_and_variables(self):
        operation = Operation.from_yaml(write(VALID), environ={})
        copy = operation.integrations[0]
        self.assertEqual((operation.name, operation.executor), ("nightly", "process"))
        self.assertEqual(
            (copy.source.kind, copy.source.name, dict(copy.source.settings)), ("memory", "scratch", {"store": "orders"})
        )
        self.assertEqual(
            (copy.batch_size, copy.mode, copy.cursor, copy.columns), (500, "incremental", "id", ["id", "amount"])
        )
        other = Operation.from_yaml(write(VALID), environ={"SOURCE_STORE": "archive"})
        self.assertEqual(other.integrations[0].source.get("store"), "archive")

    def test_connections_from_application_yml_are_known_too(self):
        path = write(
            "integrations:\n  - name: a\n    source: {connection: dw, table: t}\n    target: {kind: memory, store: x}\n"
        )
        operation = Operation.from_yaml(path, connections={"dw": {"KIND": "postgresql", "HOST": "db"}}, environ={})
        self.assertEqual(operation.name, "op")
        self.assertEqual(dict(operation.integrations[0].source.settings), {"host": "db", "table": "t"})

    def test_errors_name_the_file_the_key_path_and_what_was_expected(self):
        cases = [
            ("integrations: []\n", "op.yml: integrations: expected a list of at least one integration"),
            ("nmae: x\nintegrations: []\n", "op.yml: nmae: unknown key .*did you mean name\\?"),
            ("integrations:\n  - 5\n", r"op.yml: integrations\[0\]: expected a mapping"),
            ("integrations:\n  - {target: {kind: memory}}\n", r"op.yml: integrations\[0\].name: required"),
            ("integrations:\n  - {name: a}\n", r"op.yml: integrations\[0\].target: required"),
            (
                "integrations:\n  - {name: a, source: {connection: scrach}, target: {kind: memory}}\nconnections:\n  scratch: {kind: memory}\n",
                r"integrations\[0\].source.connection: no connection named 'scrach' \(known: scratch\); did you mean 'scratch'\?",
            ),
            (
                "integrations:\n  - {name: a, source: {store: x}, target: {kind: memory}}\n",
                r"integrations\[0\].source: expected `connection: <name>` or `kind",
            ),
            (
                "integrations:\n  - {name: a, source: 5, target: {kind: memory}}\n",
                r"integrations\[0\].source: expected a mapping",
            ),
            (
                "integrations:\n  - {name: a, source: {kind: memory}, target: {kind: memory}, batch_size: lots}\n",
                r"integrations\[0\].batch_size: expected int \| None, got 'lots'",
            ),
            (
                "integrations:\n  - {name: a, source: {kind: memory}, target: {kind: memory}, mode: sometimes}\n",
                r"integrations\[0\].mode: expected one of 'full', 'incremental'",
            ),
            (
                "integrations:\n  - {name: a, target: {kind: memory}}\n",
                r"integrations\[0\]: integration 'a': source: required unless",
            ),
            (
                "integrations:\n  - {name: a, source: {kind: memory}, target: {kind: memory}, colour: red}\n",
                r"integrations\[0\].colour: unknown key",
            ),
            (
                "integrations:\n  - {name: a, source: {kind: memory}, target: {kind: memory}}\n  - {name: a, source: {kind: memory}, target: {kind: memory}}\n",
                "names must be unique; repeated: a",
            ),
            (
                "executor: cluster\nintegrations:\n  - {name: a, source: {kind: memory}, target: {kind: memory}}\n",
                "executor: expected one of inline, process, dask, got 'cluster'",
            ),
            ("connections: [1]\nintegrations: []\n", "op.yml: connections: expected a mapping of connection names"),
            (
                "connections: {a: {store: x}}\nintegrations: []\n",
                "op.yml: connections.a: expected a mapping with a `kind`",
            ),
        ]
        for text, message in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(OperationError, message):
                    Operation.from_yaml(write(text), environ={})

    def test_every_problem_of_the_file_is_reported_not_only_the_first(self):
        path = write(
            """
            nmae: x
            integrations:
              - name: a
                source: {kind: memory, store: s}
                target: {kind: memory, stor: t}
                retries: {atempts: 3, backoff: soon}
              - name: b
                colour: red
                mode: ful
                batch_size: lots
                source: {kind: memory, stor: s}
                target: {kind: memory, store: t}
            """
        )
        with self.assertRaises(OperationError) as raised:
            Operation.from_yaml(path, environ={})
        wanted = [
            "op.yml: nmae: unknown key",
            "op.yml: integrations[0]: integration 'a': retries.atempts: unknown key",
            "op.yml: integrations[0]: integration 'a': retries.backoff: expected a number of seconds, got 'soon'",
            "op.yml: integrations[1].colour: unknown key",
            "op.yml: integrations[1].mode: expected one of 'full', 'incremental', 'changes', got 'ful'",
            "op.yml: integrations[1].batch_size: expected int | None, got 'lots'",
            "op.yml:6: integrations[0].target.stor: unknown setting for memory connections",
            "op.yml:6: integrations[0].target.store: required",
            "op.yml:12: integrations[1].source.stor: unknown setting for memory connections",
            "op.yml:12: integrations[1].source.store: required",
        ]
        problems = raised.exception.problems
        self.assertEqual(len(problems), len(wanted), problems)
        for start, problem in zip(wanted, problems, strict=True):
            self.assertTrue(problem.startswith(start), f"{problem!r} does not start with {start!r}")

    def test_yaml_syntax_and_unset_variables_name_the_line_and_key(self):
        with self.assertRaisesRegex(ConfigurationError, r"op.yml, line \d+, column \d+: invalid YAML"):
            Operation.from_yaml(write("integrations: [\n"), environ={})
        with self.assertRaisesRegex(
            ConfigurationError, r"op.yml: integrations.0.source.password: environment variable PW is not set"
        ):
            Operation.from_yaml(
                write("integrations:\n  - {name: a, source: {kind: sql, password: '${PW}'}, target: {kind: memory}}\n"),
                environ={},
            )


if __name__ == "__main__":
    unittest.main()
