"""`pdip validate` asks the targets' databases what would stop a run (docs/adr/0014, addendum):
a table that is not there, a merge with no usable key; through the run's own check, so both
refuse the same things. A target it cannot reach is a warning, or with `--strict` a problem."""

import contextlib
import sqlite3
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.base import Adapter, Capabilities, Target
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.base import Integrator
from pdip.integrator.checks import store_problems
from pdip.integrator.results import WorkerContext
from tests.support.apps import application
from tests.unittests.test_cli import run

CLOSED = "postgresql+psycopg://pdip:hidden-secret@127.0.0.1:9/nowhere"  # the discard port: nothing listens


def operation(target: str, **settings: str) -> str:
    extra = "".join(f"\n    {key}: {value}" for key, value in settings.items())
    return (
        "name: sync\nintegrations:\n  - name: items\n    source: {kind: memory, store: x}\n"
        f"    target: {{{target}}}{extra}\n"
    )


def sqlite_target(table: str) -> str:
    return f"kind: sqlite, database: target.db, table: {table}"


class ValidateTargetsTest(unittest.TestCase):
    def setUp(self):
        self.files = {
            "keyless.yml": operation(sqlite_target("loose"), write="merge"),
            "keyed.yml": operation(sqlite_target("items"), write="merge"),
            "not_unique.yml": operation(sqlite_target("loose"), write="merge", key="[id]"),
            "no_column.yml": operation(sqlite_target("items"), write="merge", key="[code]", delete_column="gone"),
            "missing.yml": operation(sqlite_target("absent")),
            "no_table.yml": operation("kind: sqlite, database: target.db"),
            "created.yml": operation(sqlite_target("absent"), write="merge", create_target="true"),
            "created_keyed.yml": operation(sqlite_target("absent"), write="merge", key="[id]", create_target="true"),
            "unreachable.yml": operation(f"kind: sql, url: '{CLOSED}', table: items", write="merge"),
        }
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)
        self.root = Path(stack.enter_context(application(self.files))[0])
        with contextlib.closing(sqlite3.connect(self.root / "target.db")) as database, database:
            database.execute("CREATE TABLE loose (id integer, name text)")
            database.execute("CREATE TABLE items (id integer primary key, name text)")

    def validate(self, name: str, *flags: str) -> tuple[int, str, str]:
        return run("validate", str(self.root / name), *flags)

    def test_a_merge_the_target_table_cannot_take_is_refused_naming_the_file_and_integration(self):
        cases = {
            "keyless.yml": "integration 'items': write: merge needs a key: table 'loose' "
            "has no primary key; name its key columns with key: [...]",
            "not_unique.yml": "write: merge: key: (id) is neither the primary key nor a unique constraint of table "
            "'loose'; an upsert needs one",
            "missing.yml": "integration 'items': target: table 'absent' does not exist in sqlite:///",
            "no_table.yml": "integration 'items': target: a sqlite target needs `table`",
            "created.yml": "write: merge needs a key: table 'absent' does not exist, and the table created for it "
            "would have no primary key; name its key columns with key: [...]",
        }
        for name, expected in cases.items():
            with self.subTest(name):
                code, out, err = self.validate(name)
                self.assertEqual((code, out), (2, ""))
                self.assertIn(f"pdip validate: {name}: ", err)
                self.assertIn(expected, err)
        code, _, err = self.validate("no_column.yml")
        self.assertEqual(code, 2)
        self.assertIn("2 problems", err)
        self.assertIn("write: merge: key: table 'items' has no column code", err)
        self.assertIn("delete_column: table 'items' has no column 'gone'", err)

    def test_what_the_target_can_take_is_valid_and_a_missing_sqlite_file_is_not_created(self):
        for name in ("keyed.yml", "created_keyed.yml"):
            with self.subTest(name):
                self.assertEqual(self.validate(name), (0, "sync: 1 integrations, valid\n", ""))
        (self.root / "target.db").unlink()
        code, _, err = self.validate("keyed.yml")
        self.assertEqual(code, 2)
        self.assertIn("table 'items' does not exist", err)
        self.assertEqual(self.validate("created_keyed.yml")[0], 0)
        self.assertFalse((self.root / "target.db").exists())

    def test_a_file_with_other_problems_still_has_its_targets_checked(self):
        (self.root / "mixed.yml").write_text(
            "name: mixed\nintegrations:\n"
            "  - {name: keyless, source: {kind: memory, store: x}, target: {"
            + sqlite_target("loose")
            + "}, write: merge}\n"
            "  - {name: misspelt, source: {kind: memory, store: x}, target: {"
            + sqlite_target("items")
            + "}, schema: evolves}\n"
        )
        code, out, err = self.validate("mixed.yml")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("2 problems", err)
        self.assertIn("schema: expected one of evolve, freeze, discard_row, discard_value, got 'evolves'", err)
        self.assertIn("integration 'keyless': write: merge needs a key: table 'loose' has no primary key", err)

    def test_offline_does_not_connect(self):
        code, out, err = self.validate("keyless.yml", "--offline")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "sync: 1 integrations, valid (offline: targets not checked)\n")

    def test_a_target_it_cannot_reach_is_a_warning_or_with_strict_a_problem(self):
        code, out, err = self.validate("unreachable.yml")
        self.assertEqual((code, out), (0, "sync: 1 integrations, valid\n"))
        self.assertIn(
            "pdip validate: warning: unreachable.yml: integration 'items': target: not checked, not reachable:", err
        )
        self.assertIn("postgresql+psycopg://pdip:***@127.0.0.1:9/nowhere", err)
        code, out, err = self.validate("unreachable.yml", "--strict")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("pdip validate: unreachable.yml: integration 'items': target: not checked, not reachable:", err)
        self.assertIn("(--strict)", err)
        for _, _, said in (self.validate("unreachable.yml"), self.validate("unreachable.yml", "--strict")):
            self.assertNotIn("hidden-secret", said)
        self.assertEqual(self.validate("unreachable.yml", "--offline", "--strict")[0], 2)  # one or the other

    def test_the_run_refuses_a_keyless_merge_into_a_table_it_would_create_before_creating_it(self):
        with Pdi(root_directory=self.root) as pdi:
            pdi.get(Integrator).stores["x"] = [{"id": 1, "name": "a"}]
            integration = Integration(
                "items",
                source=Connection("memory", {"store": "x"}),
                target=Connection("sqlite", {"database": str(self.root / "target.db"), "table": "absent"}),
                write="merge",
                create_target=True,
            )
            result = pdi.get(Integrator).integrate(Operation("sync", [integration], executor="inline"))
        self.assertEqual(result["items"].status, "failed")
        self.assertIn("the table created for it would have no primary key", result["items"].error)
        with contextlib.closing(sqlite3.connect(self.root / "target.db")) as database:
            tables = database.execute("SELECT name FROM sqlite_master WHERE name = 'absent'").fetchall()
        self.assertEqual(tables, [])


class _Unopenable(Target):
    def __init__(self, connection, context):
        raise ImportError("No module named 'somedriver' (postgresql://u:pw@h/d)")

    def check(self, create):  # pragma: no cover - never constructed
        return []

    def write(self, batch):  # pragma: no cover - never constructed
        raise NotImplementedError


class _Plain(Target):
    def write(self, batch):  # pragma: no cover - never written to
        raise NotImplementedError


class StoreProblemsTest(unittest.TestCase):
    def test_a_target_finds_nothing_to_refuse_unless_it_looks(self):
        self.assertEqual(_Plain(Connection("plain", {}), None).check(create=False), [])

    def test_targets_with_nothing_to_look_up_are_not_opened_and_one_that_cannot_be_opened_is_named(self):
        registry = AdapterRegistry()
        registry.register(Adapter(("unopenable",), None, _Unopenable, Capabilities()))
        integrations = [
            Integration("memory", source=Connection("memory", {"store": "x"}), target=Connection("memory", {})),
            Integration("statements", target=Connection("sqlite", {"table": "t"}), sql="SELECT 1"),
            Integration(
                "driver", source=Connection("memory", {"store": "x"}), target=Connection("unopenable", {}, name="dw")
            ),
        ]
        found = store_problems(Operation("op", integrations), registry, WorkerContext("validate", None))
        self.assertEqual(found.problems, [])
        self.assertEqual(
            found.unchecked,
            [
                "integration 'driver': target (connection 'dw'): not checked, it cannot be opened here: ImportError: "
                "No module named 'somedriver' (postgresql://u:***@h/d)"
            ],
        )
