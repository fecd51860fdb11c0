"""Raw configuration values into typed sections.

Values come from YAML (already typed) or environment variables (always strings), so sections
convert leniently: `"5432"` to 5432, `"true"` to True, `"a,b"` to a list. A value that does not
convert is reported with the key, the expected type and where it came from; the value of a
secret-looking key is never echoed.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from pdip.configuration.errors import ConfigurationError
from pdip.configuration.models.base import normalized
from pdip.conversion import ConversionError, convert, expected
from pdip.policy import MASK, is_secret_name


def shown(key: str, value: Any) -> str:
    """The value as an error may print it: masked when the key looks secret."""
    return MASK if is_secret_name(key.rsplit(".", 1)[-1]) else repr(value)


def build(cls: type, values: Mapping[str, Any], origins: Mapping[str, str], path: tuple[str, ...]) -> Any:
    """An instance of the dataclass `cls` from `values` keyed by field name.

    `origins` maps a field name to where its value came from (a file or a variable) for errors;
    `path` is the key path of the section, such as ("DATABASE",)."""
    hints = typing.get_type_hints(cls)
    arguments, problems = {}, []
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        key = ".".join((*path, item.name.upper()))
        if item.name not in values:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                problems.append(f"{key} is required ({expected(hints.get(item.name, Any))})")
            continue
        try:
            arguments[item.name] = convert(values[item.name], hints.get(item.name, Any), lenient=True, key=normalized)
        except ConversionError as error:
            where = origins.get(item.name)
            prefix = f"{where}: " if where else ""
            for problem in error.problems:
                where_inside = f"{key}.{problem.path.upper()}" if problem.path else key
                detail = problem.detail(lambda _, value, name=item.name: shown(name, value))
                problems.append(f"{prefix}{where_inside}: {detail}")
    if problems:
        raise ConfigurationError("; ".join(problems), problems)
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{'.'.join(path)}: {error}") from None
