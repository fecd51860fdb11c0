"""Reading application.yml and its environment overlay into one dictionary.

`application.yml` (or `.yaml`) in the root is read first; `application.<env>.yml` is merged over
it key by key, keys matching however they are spelt (`DATABASE` over `database`). `${VAR}` and
`${VAR:-default}` inside string values are replaced from the environment; `$${` writes a
literal `${`. Every key remembers the file and line it came from, so a later error can name them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pdip.configuration.errors import ConfigurationError
from pdip.configuration.models.base import normalized

_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Origins = dict[tuple[str, ...], str]


def configuration_files(root: Path, environment: str | None) -> list[Path]:
    """The files that exist for this root and environment, base first."""
    files = []
    for stem in ["application"] + ([f"application.{environment}"] if environment else []):
        for suffix in (".yml", ".yaml"):
            candidate = root / f"{stem}{suffix}"
            if candidate.is_file():
                files.append(candidate)
                break
    return files


MAX_NODES = 250_000  # values after aliases are expanded: far above any real file, far below a "billion laughs"


@dataclasses.dataclass
class Document:
    """A YAML file's data (`${VAR}` replaced) and the line of every key, by key path."""

    path: Path
    data: dict
    lines: dict[tuple[str, ...], int] = dataclasses.field(default_factory=dict)

    def line(self, *path: Any) -> int | None:
        """The line of the key at `path` (keys compared lower-case; list items by index), or of
        the nearest key above it."""
        wanted = tuple(str(part).lower() for part in path)
        while wanted:
            if wanted in self.lines:
                return self.lines[wanted]
            wanted = wanted[:-1]
        return None

    def where(self, *path: Any) -> str:
        """`op.yml:7`: the file's name and the line of `path`, for an error."""
        line = self.line(*path)
        return f"{self.path.name}:{line}" if line else self.path.name


def read_file(path: Path, environ: Mapping[str, str]) -> dict:
    """One YAML file as a mapping of sections; errors name the file and the line."""
    return read_document(path, environ).data


def read_document(path: Path, environ: Mapping[str, str]) -> Document:
    """One YAML file as a `Document`: its mapping of sections and the lines of its keys.

    Errors name the file (and the line when known) in one line: a syntax error, text that is
    not UTF-8, an alias that contains itself or expands beyond `MAX_NODES` values."""
    import yaml  # here, not at the top: an application without YAML files never pays for it

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigurationError(
            f"{path}, line {line}: not UTF-8 text ({error.reason} at byte {error.start}); save the file as UTF-8"
        ) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml's, when PyYAML has it: faster
    try:
        node = loader.get_single_node()
        lines: dict[tuple[str, ...], int] = {}
        if node is not None:
            _walk(node, (), lines, [], [0], path)
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigurationError(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    if document is None:
        return Document(path, {})
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"{path}: expected a mapping of sections at the top level (such as `DATABASE:`), "
            f"got a {type(document).__name__}"
        )
    return Document(path, interpolate(document, environ, path.name), lines)


def _walk(node: Any, path: tuple[str, ...], lines: dict, inside: list, seen: list[int], file: Path) -> None:
    """Record the line of every key under `node`, aliases expanded as PyYAML will expand them;
    refuse an alias that contains itself (PyYAML would build a list holding itself) and a tree
    that aliases expand past `MAX_NODES` values (`seen` counts them)."""
    if any(node is outer for outer in inside):
        line = node.start_mark.line + 1
        raise ConfigurationError(f"{file}, line {line}: invalid YAML: an alias refers to a value that contains it")
    seen[0] += 1
    if seen[0] > MAX_NODES:
        raise ConfigurationError(
            f"{file}, line {node.start_mark.line + 1}: invalid YAML: aliases expand to more than "
            f"{MAX_NODES:,} values (an alias bomb?)"
        )
    inside.append(node)
    if node.id == "mapping":
        for key, value in node.value:
            name = (*path, str(key.value).lower()) if key.id == "scalar" else path
            lines.setdefault(name, key.start_mark.line + 1)
            _walk(value, name, lines, inside, seen, file)
    elif node.id == "sequence":
        for index, item in enumerate(node.value):
            lines.setdefault((*path, str(index)), item.start_mark.line + 1)
            _walk(item, (*path, str(index)), lines, inside, seen, file)
    inside.pop()


def interpolate(value: Any, environ: Mapping[str, str], origin: str, path: tuple[str, ...] = ()) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string under `value`."""
    if isinstance(value, dict):
        return {key: interpolate(item, environ, origin, (*path, str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ, origin, (*path, str(index))) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        key = ".".join(path)
        raise ConfigurationError(
            f"{origin}: {key}: environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )

    return _REFERENCE.sub(replace, value)


def merge(base: dict, overlay: Mapping, origins: Origins, origin: str, path: tuple[str, ...] = ()) -> dict:
    """Deep-merge `overlay` into `base` in place; a key matches whatever its spelling."""
    spellings = {normalized(str(key)): key for key in base}
    for key, value in overlay.items():
        existing = spellings.get(normalized(str(key)), key)
        here = (*path, normalized(str(key)))
        if isinstance(value, Mapping) and isinstance(base.get(existing), dict):
            merge(base[existing], value, origins, origin, here)
        else:
            base[existing] = dict(value) if isinstance(value, Mapping) else value
            _record(origins, here, value, origin)
    return base


def _record(origins: Origins, path: tuple[str, ...], value: Any, origin: str) -> None:
    origins[path] = origin
    if isinstance(value, Mapping):
        for key, item in value.items():
            _record(origins, (*path, normalized(str(key))), item, origin)


def load(
    root: Path,
    environment: str | None,
    extra: Mapping | None,
    environ: Mapping[str, str],
) -> tuple[dict, Origins, list[Path]]:
    """The merged configuration data, where each leaf came from, and the files read."""
    data: dict = {}
    origins: Origins = {}
    files = configuration_files(root, environment)
    for path in files:
        document = read_document(path, environ)
        merge(data, document.data, origins, path.name)
        for keys, line in document.lines.items():  # `application.yml:12` wherever the line is known
            origins[tuple(normalized(key) for key in keys)] = f"{path.name}:{line}"
    if extra:
        merge(data, interpolate(dict(extra), environ, "configurations"), origins, "configurations")
    return data, origins, files
