import re
import tempfile
import textwrap
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.configuration.settings import Setting, problems, table
from pdip.integrator import Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters import Adapter, AdapterRegistry, Target, WriteResult
from pdip.integrator.base import Integrator
from pdip.integrator.checks import adapter_problems, executor_problems, named_connection_problems, refuse_invalid
from pdip.integrator.loading import load_operation

DOCS = Path(__file__).resolve().parents[3] / "docs" / "integrator.md"


def write(text: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="pdip-settings-")) / "op.yml"
    path.write_text(textwrap.dedent(text))
    return path


class DeclarationTest(unittest.TestCase):
    DECLARED = (
        Setting("database", str),
        Setting("port", int),
        Setting("store", str, required=True, help="a name"),
        Setting("types", dict[str, str], allowed=("int", "float")),
        Setting("password", str, secret=True),
    )

    def shown(self, values, **options):
        return [str(problem) for problem in problems(values, self.DECLARED, "thing", **options)]

    def test_an_unknown_setting_names_the_known_ones_and_the_closest(self):
        self.assertEqual(
            self.shown({"databse": "x", "store": "s"}),
            [
                "databse: unknown setting for thing connections (expected one of database, password, port, store, "
                "types); did you mean 'database'?"
            ],
        )

    def test_types_allowed_values_and_required_settings_are_checked_together(self):
        found = self.shown({"port": "abc", "types": {"a": "flaot", "b": "INT"}, "password": 5j})
        self.assertEqual(
            found,
            [
                "port: expected int, got 'abc'",
                "store: required for thing connections (a name)",
                "types.a: expected one of int, float, got 'flaot'; did you mean 'float'?",
                "password: expected str, got ***",  # a secret's value is never shown
            ],
        )

    def test_text_converts_leniently_and_a_missing_value_is_absent(self):
        self.assertEqual(self.shown({"port": "5432", "store": "s", "database": None}), [])
        self.assertEqual(self.shown({}, required=False), [])

    def test_the_registry_exposes_each_kind_s_settings_per_mode(self):
        registry = AdapterRegistry()
        self.assertIn("database", [setting.name for setting in registry.settings("sqlite")])
        self.assertNotIn("soft_delete", [setting.name for setting in registry.settings("sqlite")])
        self.assertIn("soft_delete", [setting.name for setting in registry.settings("postgresql", "changes")])
        self.assertEqual(registry.settings("jsonl"), registry.settings("json_lines", "changes"))  # one declaration
        registry.register(Adapter(("own",), None, None))
        self.assertIsNone(registry.settings("own"))  # declares nothing: anything passes

    def test_the_docs_capability_table_is_the_declarations(self):
        text = DOCS.read_text()
        inside = re.search(r"<!-- capabilities-table -->\n(.*)<!-- /capabilities-table -->", text, re.S).group(1)
        self.assertEqual(inside, AdapterRegistry().capability_table())

    def test_the_docs_table_is_the_declarations(self):
        expected = table(AdapterRegistry().declared())
        text = DOCS.read_text()
        inside = re.search(r"<!-- settings-table -->\n(.*)<!-- /settings-table -->", text, re.S).group(1)
        self.assertEqual(inside, expected)


class LoadingSettingsTest(unittest.TestCase):
    def test_a_negative_retries_is_one_of_the_problems_reported_together(self):
        path = write(
            """\
            name: t
            retries: -1
            integrations:
              - name: a
                source: {kind: memory, store: s}
                target: {kind: memory, stor: t}
            """
        )
        with self.assertRaises(OperationError) as raised:
            Operation.from_yaml(path, environ={})
        found = "\n".join(raised.exception.problems)
        self.assertIn("op.yml: retries: expected 0 or more, got -1", found)
        self.assertIn("did you mean 'store'?", found)

    def test_a_misspelt_setting_names_the_file_line_key_path_and_closest_name(self):
        path = write(
            """\
            name: t
            integrations:
              - name: a
                source: {kind: memory, store: s}
                target:
                  kind: sqlite
                  databse: out.db
                  table: t
            """
        )
        with self.assertRaises(OperationError) as raised:
            Operation.from_yaml(path, environ={})
        self.assertEqual(len(raised.exception.problems), 1)
        self.assertRegex(
            raised.exception.problems[0],
            r"^op.yml:7: integrations\[0\].target.databse: unknown setting for sqlite connections .*"
            r"did you mean 'database'\?$",
        )

    def test_every_problem_is_reported_where_it_was_written(self):
        path = write(
            """\
            connections:
              dw: {kind: postgresql, hots: db}
            integrations:
              - name: a
                source: {connection: dw, table: t, port: abc}
                target: {connection: app, tabel: x}
              - name: b
                source: {kind: csv, path: in.csv, types: {id: flaot}}
                target: {kind: memory}
              - name: c
                source: {connection: dw, table: u}
                target: {kind: memory, store: c}
            """
        )
        places = {"CONNECTIONS.app.hsot": "application.yml:4"}
        with self.assertRaises(OperationError) as raised:
            load_operation(Operation, path, {"app": {"KIND": "mysql", "HSOT": "x"}}, {}, where=places.get)
        found = [problem.split(" (expected")[0] for problem in raised.exception.problems]
        self.assertEqual(
            found,
            [
                "op.yml:2: connections.dw.hots: unknown setting for postgresql connections",  # once, used twice
                "op.yml:5: integrations[0].source.port: expected int, got 'abc'",
                "application.yml:4: CONNECTIONS.app.hsot: unknown setting for mysql connections",
                "op.yml:6: integrations[0].target.tabel: unknown setting for mysql connections",
                "op.yml:8: integrations[1].source.types.id: expected one of int, integer, float, decimal, bool, "
                "boolean, text, str, string, date, datetime, timestamp, got 'flaot'; did you mean 'float'?",
                "op.yml:9: integrations[1].target.store: required for memory connections (the name of the store in "
                "`integrator.stores`)",
            ],
        )

    def test_a_change_log_setting_is_fine_in_changes_mode_only(self):
        text = """\
            integrations:
              - name: a
                mode: {mode}
                source: {{kind: sqlite, database: a.db, table: t, entities: [orders]}}
                target: {{kind: memory, store: x}}
            """
        operation = Operation.from_yaml(write(text.format(mode="changes")), environ={})
        self.assertEqual(operation.integrations[0].source.get("entities"), ["orders"])
        with self.assertRaisesRegex(OperationError, r"op.yml:4: integrations\[0\].source.entities: unknown setting"):
            Operation.from_yaml(write(text.format(mode="full")), environ={})

    def test_an_unknown_kind_is_a_problem_only_with_a_registry(self):
        path = write("integrations:\n  - {name: a, source: {kind: sqllite}, target: {kind: memory, store: x}}\n")
        self.assertEqual(Operation.from_yaml(path, environ={}).integrations[0].source.kind, "sqllite")
        with self.assertRaisesRegex(OperationError, r"op.yml:2: integrations\[0\].source.kind: no adapter for"):
            load_operation(Operation, path, {}, {}, registry=AdapterRegistry())


class _NoWrites(Target):
    def write(self, batch):
        return WriteResult(len(batch))


class OperationChecksTest(unittest.TestCase):
    def test_an_operation_built_in_python_is_refused_before_any_data_moves(self):
        operation = Operation(
            "typo",
            [
                Integration(
                    "a",
                    source=Connection("memory", {"store": "orders"}),
                    target=Connection("memory", {"stor": "copy"}),
                )
            ],
        )
        with Pdi() as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["orders"] = [{"id": 1}]
            with self.assertRaisesRegex(
                OperationError, r"integration 'a': target.stor: unknown setting for memory .*did you mean 'store'\?"
            ):
                integrator.integrate(operation, execution_id="refused")
            self.assertNotIn("copy", integrator.stores)
            recorded = [record["execution_id"] for record in pdi.get(StateStore).executions(50)]
            self.assertNotIn("refused", recorded)  # not even recorded

    def test_a_problem_is_reported_once_however_often_its_connection_is_used(self):
        shared = Connection("memory", {"store": "x", "stor": "x"})
        operation = Operation("twice", [Integration("a", source=shared, target=shared)] * 2)
        with self.assertRaises(OperationError) as raised:
            refuse_invalid(operation, AdapterRegistry())
        self.assertEqual(
            [problem.split(" (")[0] for problem in raised.exception.problems],
            [
                "integration 'a': source.stor: unknown setting for memory connections",
                "integration 'a': target.stor: unknown setting for memory connections",
            ],
        )

    def test_a_valid_python_operation_still_runs(self):
        operation = Operation(
            "ok",
            [
                Integration(
                    "a", source=Connection("memory", {"store": "o"}), target=Connection("memory", {"store": "c"})
                )
            ],
        )
        with Pdi() as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["o"] = [{"id": 1}, {"id": 2}]
            self.assertTrue(integrator.integrate(operation).ok)
            self.assertEqual(integrator.stores["c"], [{"id": 1}, {"id": 2}])

    def test_executor_and_adapter_problems(self):
        registry = AdapterRegistry()
        registry.register(Adapter(("sink",), None, _NoWrites))
        operation = Operation(
            "x",
            [
                Integration("m", source=Connection("memory", {"store": "s"}), target=Connection("sqlite", {})),
                Integration("f", source=Connection("sqlite", {}), target=Connection("parquet", {"path": "o.parquet"})),
                Integration("s", source=Connection("sink"), target=Connection("nothing")),
                Integration("ok", source=Connection("sqlite", {}), target=Connection("sqlite", {})),
            ],
        )
        self.assertEqual(executor_problems(operation, registry), [])  # the process executor runs them all
        self.assertEqual(
            [problem.split(":")[0] for problem in executor_problems(operation, registry, "dask")],
            ["integration 'm'", "integration 'f'"],  # `nothing` is a kind problem, not the executor's
        )
        self.assertEqual(
            adapter_problems(operation, registry), ["integration 's': source: sink connections cannot be read from"]
        )

    def test_a_named_connection_may_hold_settings_of_either_mode_but_not_unknown_ones(self):
        registry = AdapterRegistry()
        outbox = Connection("postgresql", {"host": "db", "entities": ["a"], "hots": "x"})
        self.assertEqual([problem.key for problem in named_connection_problems(outbox, registry)], ["hots"])
        self.assertEqual(named_connection_problems(Connection("csv", {"delimiter": ";"}), registry), [])
        self.assertEqual([p.key for p in named_connection_problems(Connection("nope", {}), registry)], ["kind"])
        registry.register(Adapter(("own",), None, _NoWrites))
        self.assertEqual(named_connection_problems(Connection("own", {"any": 1}), registry), [])


if __name__ == "__main__":
    unittest.main()
