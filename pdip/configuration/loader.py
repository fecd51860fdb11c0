"""Reading application.yml and its environment overlay into one dictionary.

`application.yml` (or `.yaml`) in the root is read first; `application.<env>.yml` is merged over
it key by key, keys matching however they are spelt (`DATABASE` over `database`). `${VAR}` and
`${VAR:-default}` inside string values are replaced from the environment; `$${` writes a
literal `${`. Every leaf remembers the file it came from, so a later error can name it.
"""

from __future__ import annotations

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


def read_file(path: Path, environ: Mapping[str, str]) -> dict:
    """One YAML file as a mapping of sections; errors name the file and the line."""
    import yaml  # here, not at the top: an application without YAML files never pays for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML has it: faster
    try:
        with path.open(encoding="utf-8") as stream:
            document = yaml.load(stream, Loader=loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigurationError(f"{where}: invalid YAML: {problem}") from None
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot be read: {error.strerror}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"{path}: expected a mapping of sections at the top level (such as `DATABASE:`), "
            f"got a {type(document).__name__}"
        )
    return interpolate(document, environ, path.name)


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
        merge(data, read_file(path, environ), origins, path.name)
    if extra:
        merge(data, interpolate(dict(extra), environ, "configurations"), origins, "configurations")
    return data, origins, files
