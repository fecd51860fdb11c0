"""Guards over the code base itself: habits that keep the test suite honest."""

import ast
import importlib.util
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRAGMA = re.compile(r"#\s*pragma:\s*no\s*cover(?P<rest>.*)$")


def python_files(*folders: str):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr, ast.Lambda)
# assertX(a, b) that holds whenever a and b are the same expression
REFLEXIVE = {
    "assertEqual",
    "assertIs",
    "assertListEqual",
    "assertTupleEqual",
    "assertDictEqual",
    "assertSetEqual",
    "assertSequenceEqual",
    "assertCountEqual",
    "assertAlmostEqual",
    "assertGreaterEqual",
    "assertLessEqual",
    "assertIn",
}
# assertX(literal) that can never fail (or never pass, which is no test either)
OF_A_LITERAL = {"assertTrue", "assertFalse", "assertIsNotNone", "assertIsNone", "assert_"}


def call_name(node: ast.Call) -> str:
    return getattr(node.func, "attr", getattr(node.func, "id", ""))


def is_assertion(node: ast.AST) -> bool:
    """An `assert` statement, or a call whose name says it asserts or fails (`self.assertEqual`,
    `self.fail`, a helper such as `assert_rows`)."""
    if isinstance(node, ast.Assert):
        return True
    return isinstance(node, ast.Call) and any(word in call_name(node).lower() for word in ("assert", "fail"))


def is_tautology(node: ast.AST) -> bool:
    """An assertion that holds whatever the code under test does: `assert True`,
    `assertTrue(1)`, `assertIsNotNone("x")`, `assertEqual(x, x)`."""
    if isinstance(node, ast.Assert):
        return isinstance(node.test, LITERALS)
    if not isinstance(node, ast.Call) or not node.args:
        return False
    name = call_name(node)
    if name in OF_A_LITERAL:
        return isinstance(node.args[0], LITERALS)
    if name in REFLEXIVE and len(node.args) >= 2:
        # a call may give a new value each time (`assertIs(cache.get(), cache.get())` is a real test)
        calls = any(isinstance(inner, ast.Call) for inner in ast.walk(node.args[0]))
        return not calls and ast.dump(node.args[0]) == ast.dump(node.args[1])
    return False


class QualityTest(unittest.TestCase):
    def test_every_test_asserts_something(self):
        weak = []
        for path in python_files("tests"):
            for node in ast.walk(parse(path)):
                if (
                    isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and node.name.startswith("test")
                    and not any(is_assertion(inner) and not is_tautology(inner) for inner in ast.walk(node))
                ):
                    weak.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
        self.assertEqual(weak, [], "tests that cannot fail")

    def test_no_assertion_holds_whatever_the_code_does(self):
        empty = [
            f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}"
            for path in python_files("tests")
            for node in ast.walk(parse(path))
            if is_tautology(node)
        ]
        self.assertEqual(empty, [], "assertions that cannot fail: assert what the code did")

    def test_unit_tests_do_not_sleep_a_tenth_of_a_second_or_more(self):
        slow = []
        for path in python_files("tests/unittests"):
            for node in ast.walk(parse(path)):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", getattr(node.func, "id", None)) == "sleep"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, (int, float))
                    and node.args[0].value >= 0.1
                ):
                    slow.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        self.assertEqual(slow, [], "unit tests that sleep; wait on an event or poll instead")

    def test_no_star_imports(self):
        starred = [
            f"{path.relative_to(ROOT)}:{node.lineno}"
            for path in python_files("pdip", "tests", "bench", "examples")
            for node in ast.walk(parse(path))
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
        ]
        self.assertEqual(starred, [])

    def test_every_no_cover_pragma_gives_its_reason(self):
        bare = []
        for path in python_files("pdip"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = PRAGMA.search(line)
                if match and len(match.group("rest").strip(" -:()")) < 5:
                    bare.append(f"{path.relative_to(ROOT)}:{number}")
        self.assertEqual(bare, [], "write `# pragma: no cover - why` so a reader knows why")

    def test_ruff_finds_nothing_and_the_code_is_formatted(self):
        if importlib.util.find_spec("ruff") is None:
            if os.environ.get("CI", "").lower() == "true":
                self.fail("ruff is not installed; it comes with the dev extra: pip install -e '.[dev]'")
            self.skipTest("ruff is not installed (pip install -e '.[dev]')")
        for command in (["check", "--quiet", "."], ["format", "--check", "--quiet", "."]):
            result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, f"ruff {command[0]}:\n{result.stdout}{result.stderr}")

    def test_the_guards_themselves_catch_what_they_look_for(self):
        def first(source: str) -> ast.AST:
            return next(node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Assert, ast.Call)))

        empty = ["assert True", "self.assertTrue(True)", "self.assertFalse(0)", "self.assertIsNotNone('x')"]
        empty += ["self.assertIsNotNone([])", "self.assertEqual(a.b, a.b)", "self.assertIs(x, x)"]
        real = ["assert x", "self.assertTrue(done)", "self.assertEqual(a.b, a.c)", "self.assertIs(make(), make())"]
        real += ["self.fail('no')"]
        found = {source: (is_assertion(first(source)), is_tautology(first(source))) for source in empty + real}
        self.assertEqual(found, {**dict.fromkeys(empty, (True, True)), **dict.fromkeys(real, (True, False))})
        self.assertFalse(is_assertion(first("print(x)")))
        self.assertIsNotNone(PRAGMA.search("x = 1  # pragma: no cover"))
        self.assertEqual(
            PRAGMA.search("x  # pragma: no cover - only on Windows").group("rest").strip(" -"), "only on Windows"
        )


if __name__ == "__main__":
    unittest.main()
