"""Finding an application's services without a registration file and without running its scripts.

Importing every module under the root would execute scripts that merely sit there (a
`scripts/oneoff.py` that prints, or worse, deletes). So discovery reads source text first: a
regular expression lists each file's `class Name(Bases):` statements, and a file is imported only
if one of its classes derives, by name and at any depth across files, from a marker base
(`ISingleton`, `IScoped`, `BaseConfig`, ...). Reading text is a few milliseconds for hundreds of
files, far cheaper than parsing them. See docs/adr/0001-discovery-scans-source-before-importing.md.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from pdip.dependency.errors import DiscoveryError

SKIPPED_FOLDERS = frozenset(
    {"venv", ".venv", "env", "site-packages", "node_modules", "tests", "__pycache__", "build", "dist"}
)

_CLASS_STATEMENT = re.compile(r"^[ \t]*class[ \t]+(\w+)[ \t]*\(([^)]*)\)[ \t]*:", re.MULTILINE)
_SUBSCRIPT = re.compile(r"\[[^\[\]]*\]")
_PDIP_PACKAGE = os.path.realpath(os.path.dirname(os.path.dirname(__file__)))


@dataclass
class SourceFile:
    path: Path
    module: str
    classes: dict[str, list[str]]  # class name -> base names


@dataclass
class DiscoveryResult:
    modules: list[ModuleType] = field(default_factory=list)
    classes: list[type] = field(default_factory=list)

    def subclasses_of(self, bases: type | tuple[type, ...]) -> list[type]:
        bases = bases if isinstance(bases, tuple) else (bases,)
        return [cls for cls in self.classes if issubclass(cls, bases) and cls not in bases]


Marker = type | str  # a class, or "module:Name" for a base whose area may not be imported yet


def discover(
    root: str | os.PathLike,
    markers: Sequence[Marker],
    excluded_modules: Iterable[str] = (),
) -> DiscoveryResult:
    """Import the modules under `root` that declare subclasses of `markers`, and return those classes.

    A marker given as "module:Name" costs nothing until an application module imports it: its
    name still selects files to import, and its class is looked up only if the module is loaded."""
    root = Path(root).resolve()
    excluded = [_as_relative_path(entry) for entry in excluded_modules or ()]
    sources = list(_read_sources(root, excluded))
    main_file = _main_file()
    result = DiscoveryResult()
    _ensure_importable(root)
    for source in _sources_with_services(sources, _known_names(markers)):
        module = sys.modules["__main__"] if main_file is not None and source.path == main_file else _import(source)
        result.modules.append(module)
    main = sys.modules.get("__main__")
    if main is not None and main_file is not None and _is_under(main_file, root) and main not in result.modules:
        result.modules.append(main)
    result.classes = _classes_in(result.modules, _loaded(markers))
    return result


def _loaded(markers: Sequence[Marker]) -> tuple[type, ...]:
    classes = []
    for marker in markers:
        if isinstance(marker, type):
            classes.append(marker)
        else:
            module, _, name = marker.partition(":")
            loaded = sys.modules.get(module)
            if loaded is not None:
                classes.append(getattr(loaded, name))
    return tuple(classes)


def _read_sources(root: Path, excluded: list[str]) -> Iterable[SourceFile]:
    """Every .py file under `root` that discovery may import, with its class statements.

    Walks with plain strings and `os.scandir`: on hundreds of files, pathlib's objects cost
    more than the reading."""
    pending = [(str(root), "")]
    while pending:
        folder, relative_folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda item: item.name):
                relative = _join(relative_folder, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    if not _skipped_folder(entry.path, entry.name) and not _is_excluded(relative, excluded):
                        pending.append((entry.path, relative))
                elif entry.name.endswith(".py") and not (
                    _is_excluded(relative, excluded) or _is_excluded(relative[:-3], excluded)
                ):
                    classes = _class_statements(entry.path)
                    if classes:
                        yield SourceFile(Path(entry.path), _module_name(relative), classes)


def _skipped_folder(path: str, name: str) -> bool:
    return (
        name in SKIPPED_FOLDERS
        or name.startswith(".")
        or name.endswith(".egg-info")
        or not name.isidentifier()
        or os.path.realpath(path) == _PDIP_PACKAGE
    )


def _class_statements(path: str) -> dict[str, list[str]]:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return {}
    if b"class" not in data:
        return {}
    text = data.decode("utf-8", errors="replace")
    return {name: _base_names(bases) for name, bases in _CLASS_STATEMENT.findall(text)}


def _base_names(bases: str) -> list[str]:
    while "[" in bases:
        stripped = _SUBSCRIPT.sub("", bases)
        if stripped == bases:
            break
        bases = stripped
    names = []
    for part in bases.split(","):
        part = part.strip()
        if part and "=" not in part:
            names.append(part.rsplit(".", 1)[-1])
    return names


def _known_names(markers: Sequence[Marker]) -> set[str]:
    """The markers' names and those of every loaded subclass (pdip's own `ConsoleLogger`, say)."""
    names = {marker.rpartition(":")[2] for marker in markers if isinstance(marker, str)}
    pending = list(_loaded(markers))
    while pending:
        cls = pending.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            pending.extend(cls.__subclasses__())
    return names


def _sources_with_services(sources: list[SourceFile], names: set[str]) -> list[SourceFile]:
    """Files declaring a class that derives from a marker through any chain of bases across files."""
    marked = set(names)
    changed = True
    while changed:
        changed = False
        for source in sources:
            for name, bases in source.classes.items():
                if name not in marked and marked.intersection(bases):
                    marked.add(name)
                    changed = True
    return [source for source in sources if any(marked.intersection(bases) for bases in source.classes.values())]


def _import(source: SourceFile) -> ModuleType:
    try:
        return importlib.import_module(source.module)
    except Exception as error:
        raise DiscoveryError(
            f"{source.path}: importing {source.module} during discovery failed: {type(error).__name__}: {error}"
        ) from error


def _classes_in(modules: list[ModuleType], markers: tuple) -> list[type]:
    found = []
    for module in modules:
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and issubclass(value, markers)
                and value not in markers
            ):
                found.append(value)
    return found


def _ensure_importable(root: Path) -> None:
    entry = str(root)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _main_file() -> Path | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve() if path else None


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _module_name(relative: str) -> str:
    parts = relative[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _as_relative_path(entry: str) -> str:
    entry = entry.strip().strip("/")
    if entry.endswith(".py"):
        return entry[:-3]
    return entry.replace(".", "/") if "/" not in entry else entry


def _is_excluded(relative: str, excluded: list[str]) -> bool:
    return any(relative == entry or relative.startswith(entry + "/") for entry in excluded)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name
