"""Guards over pdip's import graph: no cycles between modules, no private names across modules.

Every import counts, at module level and inside functions (a lazy import hides a cycle from Python,
not from a reader); only imports under `if TYPE_CHECKING:` are left out, since they never run.
"""

from __future__ import annotations

import ast
import unittest
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pdip"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pdip_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in `tree`, nested ones included, except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (found for child in node.orelse for found in import_nodes(ast.Module([child], [])))
        else:
            yield from import_nodes(node)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, ast.alias, int]]:
    """(imported pdip module, alias, line) for each name `name` imports from pdip."""
    is_package = path.name == "__init__.py"
    for node in import_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, alias, node.lineno
            continue
        source = _absolute(node, name, is_package)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in modules:
                yield submodule, alias, node.lineno
            elif source in modules:
                yield source, alias, node.lineno


def import_graph() -> dict[str, set[str]]:
    modules = pdip_modules()
    return {
        name: {target for target, _, _ in imports_of(name, path, modules) if target != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class ImportGraphTest(unittest.TestCase):
    def test_no_module_takes_part_in_an_import_cycle(self):
        unexpected = [sorted(component) for component in cycles(import_graph())]
        self.assertEqual(unexpected, [], "import cycles: make the arrow go one way")

    def test_no_module_imports_a_private_name_from_another_module(self):
        modules = pdip_modules()
        private = [
            f"{path.relative_to(ROOT)}:{line} {alias.name} from {target}"
            for name, path in modules.items()
            for target, alias, line in imports_of(name, path, modules)
            if target != name and _is_private(alias.name)
        ]
        self.assertEqual(private, [], "a shared piece is public: drop the underscore or move it")

    def test_tracking_does_not_import_the_integrator(self):
        graph = import_graph()
        leaks = sorted(
            f"{name} -> {target}"
            for name, targets in graph.items()
            if name.startswith("pdip.tracking")
            for target in targets
            if target.startswith("pdip.integrator")
        )
        self.assertEqual(leaks, [], "tracking uses pdip.messaging, never the integrator")


class GraphToolsTest(unittest.TestCase):
    """The guards above are only as good as the graph they read: check it on small known cases."""

    def test_cycles_finds_each_component_and_ignores_chains(self):
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"f"}, "g": set()}
        self.assertEqual(sorted(map(sorted, cycles(graph))), [["a", "b", "c"], ["d", "e"]])

    def test_imports_inside_functions_count_and_type_checking_ones_do_not(self):
        tree = ast.parse(
            "import a\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import hidden\nelse:\n    import shown\n"
            "def f():\n    from b import c\n"
            "class K:\n    def g(self):\n        import d\n"
        )
        names = sorted(alias.name for node in import_nodes(tree) for alias in node.names)
        self.assertEqual(names, ["TYPE_CHECKING", "a", "c", "d", "shown"])

    def test_relative_imports_resolve_against_the_importer(self):
        node = ast.parse("from ..x import y").body[0]
        self.assertEqual(_absolute(node, "pdip.area.module", is_package=False), "pdip.x")
        self.assertEqual(_absolute(node, "pdip.area", is_package=True), "pdip.x")

    def test_the_graph_sees_a_known_import_of_pdip(self):
        self.assertIn("pdip.tracking.entry", import_graph()["pdip.tracking.tracker"])

    def test_dunder_names_are_not_private(self):
        self.assertEqual([_is_private(name) for name in ("_x", "__all__", "x")], [True, False, False])


if __name__ == "__main__":
    unittest.main()
