"""Turning raw configuration values into typed sections.

Values come from YAML (already typed) or from environment variables (always strings), so each
is converted to its field's type here: `"5432"` to 5432, `"true"` to True, `"a,b"` to a list.
A value that cannot be converted is reported with the key, the expected type and where it came
from; a secret-looking key's value is never echoed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pdip.configuration.errors import ConfigurationError
from pdip.configuration.models.base import normalized
from pdip.dependency.planning import type_name
from pdip.policy import MASK, is_secret_name

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class ConversionError(ValueError):
    """A value does not fit its field; `coerce`'s callers add the key and the origin."""


def coerce(value: Any, hint: Any) -> Any:
    """`value` converted to `hint`, or ConversionError."""
    if hint is Any or hint is None:
        return value
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _coerce_union(value, get_args(hint))
    if origin is typing.Literal:
        if value in get_args(hint):
            return value
        raise ConversionError
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set, frozenset):
        return _coerce_sequence(value, origin or hint, get_args(hint))
    if origin is dict or hint is dict:
        return _coerce_mapping(value, get_args(hint))
    if not isinstance(hint, type):
        return value
    if hint is bool:
        return _coerce_bool(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    return _coerce_scalar(value, hint)


def _coerce_union(value: Any, members: tuple) -> Any:
    if type(None) in members and (value is None or _spells_null(value)):
        return None
    for member in members:
        if member is type(None):
            continue
        try:
            return coerce(value, member)
        except ConversionError:
            continue
    raise ConversionError


def _spells_null(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("", "null", "none", "~")


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConversionError


def _coerce_sequence(value: Any, kind: type, args: tuple) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _json(text, list)
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConversionError
    if kind is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ConversionError
        return tuple(coerce(element, arg) for element, arg in zip(value, args, strict=False))
    item = args[0] if args else Any
    return kind(coerce(element, item) for element in value)


def _coerce_mapping(value: Any, args: tuple) -> dict:
    if isinstance(value, str):
        value = _json(value, dict)
    if not isinstance(value, Mapping):
        raise ConversionError
    key_type, value_type = args if len(args) == 2 else (Any, Any)
    return {coerce(key, key_type): coerce(item, value_type) for key, item in value.items()}


def _coerce_scalar(value: Any, hint: type) -> Any:
    if dataclasses.is_dataclass(hint):
        return _coerce_dataclass(value, hint)
    if isinstance(value, (bool, dict, list)) and hint is not str:
        raise ConversionError
    try:
        if hint is str:
            if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                return str(value)
            raise ConversionError
        if hint is int:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(str(value).strip())
        if hint in (float, Decimal, Path):
            return hint(str(value).strip()) if hint is not Path else Path(value)
        if issubclass(hint, enum.Enum):
            return _coerce_enum(value, hint)
    except (ValueError, TypeError, InvalidOperation):
        raise ConversionError from None
    raise ConversionError


def _coerce_dataclass(value: Any, hint: type) -> Any:
    """A nested section (`POOL: {SIZE: 5}`) into its dataclass, keys matched in any spelling."""
    if not isinstance(value, Mapping):
        raise ConversionError
    fields = {normalized(item.name): item.name for item in dataclasses.fields(hint)}
    try:
        values = {fields[normalized(str(key))]: item for key, item in value.items()}
        return build(hint, values, {}, ())
    except (KeyError, ConfigurationError):
        raise ConversionError from None


def _coerce_enum(value: Any, hint: type[enum.Enum]) -> enum.Enum:
    for member in hint:
        if value == member.value or (isinstance(value, str) and value.strip().lower() == member.name.lower()):
            return member
    raise ConversionError


def _json(text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ConversionError from None
    if not isinstance(value, kind):
        raise ConversionError
    return value


def expected(hint: Any) -> str:
    """The expected type as a user reads it in an error."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in hint)
    if get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    return type_name(hint)


def shown(key: str, value: Any) -> str:
    """The value as an error may print it: masked when the key looks secret."""
    return MASK if is_secret_name(key) else repr(value)


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
        where = origins.get(item.name)
        if item.name not in values:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                problems.append(f"{key} is required ({expected(hints.get(item.name, Any))})")
            continue
        value = values[item.name]
        try:
            arguments[item.name] = coerce(value, hints.get(item.name, Any))
        except ConversionError:
            prefix = f"{where}: " if where else ""
            problems.append(
                f"{prefix}{key}: expected {expected(hints.get(item.name, Any))}, got {shown(item.name, value)}"
            )
    if problems:
        raise ConfigurationError("; ".join(problems), problems)
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{'.'.join(path)}: {error}") from None
