"""Raw values (YAML, environment variables, JSON bodies) converted to typed Python values.

One converter serves configuration sections, request DTOs and change-log entries, so a type
means the same thing everywhere. Two modes:

- strict (JSON): a value must already have its JSON type (`5` for an int, `true` for a bool);
  types JSON lacks come as strings (ISO datetimes and dates, UUIDs, decimals, base64 bytes).
- lenient (`lenient=True`, text sources such as environment variables): strings convert to
  numbers, booleans (`yes`, `off`, ...), lists (comma-separated or JSON) and mappings (JSON).

Every problem is collected with its path (`items[2].price`), so one error lists them all.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import orjson

from pdip.conversion.errors import ConversionError

# The texts a lenient conversion (environment variables, query strings, file columns typed `bool`)
# reads as a bool, whatever their case and surrounding spaces; `t`/`f` are how PostgreSQL writes them.
TRUE_TEXTS = frozenset({"true", "yes", "on", "1", "t", "y"})
FALSE_TEXTS = frozenset({"false", "no", "off", "0", "f", "n"})
_NULL = frozenset({"", "null", "none", "~"})
_SEQUENCES = (list, tuple, set, frozenset)
_INVALID = object()
_NOTHING = object()


@dataclasses.dataclass(frozen=True)
class Problem:
    """One value that did not convert: where, what was expected, and what came."""

    path: str
    expected: str
    value: Any = _NOTHING
    reason: str | None = None

    def describe(self, shown: Callable[[str, Any], str] | None = None) -> str:
        """`path: expected int, got 'x'`; `shown(path, value)` may mask the value (secrets)."""
        detail = self.detail(shown)
        return f"{self.path}: {detail}" if self.path else detail

    def detail(self, shown: Callable[[str, Any], str] | None = None) -> str:
        """The problem without its path: `expected int, got 'x'`."""
        if self.reason:
            return self.reason
        if self.value is _NOTHING:
            return f"expected {self.expected}"
        got = shown(self.path, self.value) if shown else repr(self.value)
        return f"expected {self.expected}, got {got}"


def convert(
    value: Any,
    hint: Any,
    *,
    lenient: bool = False,
    key: Callable[[str], str] | None = None,
    path: str = "",
) -> Any:
    """`value` as `hint`, or ConversionError listing every problem.

    `key` normalises mapping keys before they are matched to dataclass fields (configuration
    matches `BATCH_SIZE` to `batch_size` with it); without it keys must equal field names."""
    converter = _Converter(lenient, key)
    result = converter.run(value, hint, path)
    if converter.problems:
        raise ConversionError(converter.problems)
    return result


def expected(hint: Any) -> str:
    """A type as a user reads it in an error: `int`, `list[str]`, `one of 'a', 'b'`."""
    if get_origin(hint) is Annotated:
        return expected(get_args(hint)[0])
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in hint)
    if get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    members = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else ()
    if any(get_origin(member) is typing.Literal for member in members):  # `one of 'a', 'b' or Shape`
        return " or ".join(expected(member) for member in members if member is not type(None))
    from pdip.dependency.planning import type_name

    return type_name(hint)


def check(value: Any, hint: Any, path: str = "") -> list[Problem]:
    """What is wrong with a value that should already be a `hint` (no conversion is attempted):
    a dataclass built by hand with a string where a datetime belongs, say."""
    problems: list[Problem] = []
    _check(value, hint, path, problems)
    return problems


def _check(value: Any, hint: Any, path: str, problems: list[Problem]) -> None:
    if hint is Any or hint is None or isinstance(hint, (typing.TypeVar, str, typing.ForwardRef)):
        return
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        _check(value, args[0], path, problems)
    elif origin in (Union, types.UnionType):
        fits = (value is None and type(None) in args) or any(
            not check(value, member) for member in args if member is not type(None)
        )
        if not fits:
            problems.append(Problem(path, expected(hint), value))
    elif origin is typing.Literal:
        if value not in args:
            problems.append(Problem(path, expected(hint), value))
    elif origin in _SEQUENCES or origin in (dict, Mapping):
        if not isinstance(value, origin):
            problems.append(Problem(path, expected(hint), value))
        elif origin in (dict, Mapping) and len(args) == 2:
            for item_key, item in value.items():
                _check(item_key, args[0], f"{path}[{item_key!r}]", problems)
                _check(item, args[1], f"{path}[{item_key!r}]", problems)
        elif origin is tuple and args and args[-1] is not Ellipsis:
            for index, (item, arg) in enumerate(zip(value, args, strict=False)):
                _check(item, arg, f"{path}[{index}]", problems)
        elif args and origin not in (dict, Mapping):
            for index, item in enumerate(value):
                _check(item, args[0], f"{path}[{index}]", problems)
    elif not isinstance(hint, type):
        return
    elif not _is_instance(value, hint):
        problems.append(Problem(path, expected(hint), value))
    elif dataclasses.is_dataclass(hint):
        hints = _type_hints(hint)
        for item in dataclasses.fields(hint):
            if item.init:
                _check(getattr(value, item.name), hints.get(item.name, Any), _join(path, item.name), problems)


def _is_instance(value: Any, hint: type) -> bool:
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def to_plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses to dicts, enums to their values, datetimes, dates
    and times to ISO text, decimals and UUIDs to text, bytes to base64; `convert` reverses it."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value.value if isinstance(value, enum.Enum) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, Path)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {to_plain(item_key): to_plain(item) for item_key, item in value.items()}
    if isinstance(value, (*_SEQUENCES,)):
        return [to_plain(item) for item in value]
    return value


def to_bool(value: Any) -> bool:
    """A bool from a bool, the ints 0 and 1, or a text in TRUE_TEXTS / FALSE_TEXTS (any case,
    spaces around ignored); ValueError for anything else. The one lenient reading of a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in TRUE_TEXTS:
        return True
    if text in FALSE_TEXTS:
        return False
    raise ValueError(f"expected a bool (true/false, yes/no, on/off, 1/0, t/f, y/n), got {value!r}")


def json_default(value: Any) -> Any:
    """For `json.JSONEncoder(default=json_default)`: what JSON lacks, the way `to_plain` writes it
    (ISO datetimes, decimals as text, ...); the encoder asks only for values it cannot write
    itself, which keeps plain rows fast. TypeError for a value `to_plain` leaves as it is."""
    plain = to_plain(value)
    if plain is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return plain


# orjson writes str, int, float, bool, None, lists and dicts itself and hands everything else
# (datetimes, dataclasses, subclasses such as enums) to `json_default`, as the standard encoder does
_ORJSON_DEFERS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_STANDARD_JSON = json.JSONEncoder(separators=(",", ":"), default=json_default).encode


def json_bytes(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON with the values `json.JSONEncoder(default=json_default)`
    writes, by orjson (several times faster on rows). What orjson refuses (an int past 64 bits,
    a lone surrogate) or writes otherwise (NaN and the infinities, which it makes null) is
    written by the standard encoder; TypeError or ValueError for what neither can write."""
    try:
        text = orjson.dumps(value, default=json_default, option=_ORJSON_DEFERS)
    except TypeError:
        return _STANDARD_JSON(value).encode()
    if b"null" in text and _non_finite(value):  # a null orjson wrote for a float, not for a None
        return _STANDARD_JSON(value).encode()
    return text


def _non_finite(value: Any) -> bool:
    """Whether a float that is NaN or infinite is among `value`'s items, however deep."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(map(_non_finite, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_non_finite, value))
    return False


class _Converter:
    def __init__(self, lenient: bool, key: Callable[[str], str] | None):
        self.lenient = lenient
        self.key = key
        self.problems: list[Problem] = []

    def fail(self, path: str, hint: Any, value: Any = _NOTHING, reason: str | None = None) -> Any:
        self.problems.append(Problem(path, expected(hint), value, reason))
        return _INVALID

    def run(self, value: Any, hint: Any, path: str) -> Any:
        if hint is Any or hint is None or isinstance(hint, (typing.TypeVar, str, typing.ForwardRef)):
            return value
        origin = get_origin(hint)
        if origin is Annotated:
            return self.run(value, get_args(hint)[0], path)
        if origin in (Union, types.UnionType):
            return self.union(value, hint, path)
        if origin is typing.Literal:
            return value if value in get_args(hint) else self.fail(path, hint, value)
        if origin in _SEQUENCES or hint in _SEQUENCES:
            return self.sequence(value, hint, origin or hint, path)
        if origin in (dict, Mapping) or hint in (dict, Mapping):
            return self.mapping(value, hint, path)
        if not isinstance(hint, type):
            return value
        if dataclasses.is_dataclass(hint):
            return self.dataclass(value, hint, path)
        return self.scalar(value, hint, path)

    def union(self, value: Any, hint: Any, path: str) -> Any:
        members = get_args(hint)
        if type(None) in members and (value is None or (self.lenient and _spells_null(value))):
            return None
        shape = _only_shape(members) if isinstance(value, Mapping) else None
        if shape is not None:  # a mapping can only be this dataclass: its own problems say more
            return self.run(value, shape, path)
        for member in members:
            if member is type(None):
                continue
            attempt = _Converter(self.lenient, self.key)
            result = attempt.run(value, member, path)
            if not attempt.problems:
                return result
        return self.fail(path, hint, value)

    def sequence(self, value: Any, hint: Any, kind: type, path: str) -> Any:
        items = value
        if isinstance(value, str) and self.lenient:
            text = value.strip()
            items = _json(text, list) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        if not isinstance(items, _SEQUENCES):
            return self.fail(path, hint, value)
        value = items
        args = get_args(hint)
        if kind is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return self.fail(path, hint, value)
            items = [self.run(item, arg, f"{path}[{i}]") for i, (item, arg) in enumerate(zip(value, args, strict=True))]
        else:
            item_hint = args[0] if args else Any
            items = [self.run(item, item_hint, f"{path}[{i}]") for i, item in enumerate(value)]
        if any(item is _INVALID for item in items):
            return _INVALID
        return kind(items)

    def mapping(self, value: Any, hint: Any, path: str) -> Any:
        parsed = _json(value, dict) if isinstance(value, str) and self.lenient else value
        if not isinstance(parsed, Mapping):
            return self.fail(path, hint, value)
        value = parsed
        args = get_args(hint)
        key_hint, value_hint = args if len(args) == 2 else (Any, Any)
        result = {}
        for item_key, item in value.items():
            converted_key = self.run(item_key, key_hint, f"{path}[{item_key!r}]")
            converted = self.run(item, value_hint, f"{path}[{item_key!r}]")
            result[converted_key] = converted
        return _INVALID if _INVALID in result.values() or _INVALID in result else result

    def dataclass(self, value: Any, hint: type, path: str) -> Any:
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            return self.fail(path, hint, value)
        fields = {item.name: item for item in dataclasses.fields(hint) if item.init}
        names = {(self.key(name) if self.key else name): name for name in fields}
        hints = _type_hints(hint)
        given, ok = {}, True
        for raw_key, item in value.items():
            name = names.get(self.key(str(raw_key)) if self.key else raw_key)
            if name is None:
                self.fail(_join(path, str(raw_key)), Any, reason="unknown field")
                ok = False
                continue
            given[name] = self.run(item, hints.get(name, Any), _join(path, name))
            ok = ok and given[name] is not _INVALID
        for name, item in fields.items():
            if (
                name not in given
                and item.default is dataclasses.MISSING
                and item.default_factory is dataclasses.MISSING
            ):
                self.fail(
                    _join(path, name), hints.get(name, Any), reason=f"required ({expected(hints.get(name, Any))})"
                )
                ok = False
        if not ok:
            return _INVALID
        try:
            return hint(**given)
        except (TypeError, ValueError) as error:
            return self.fail(path, hint, reason=str(error))

    def scalar(self, value: Any, hint: type, path: str) -> Any:
        try:
            result = self._scalar(value, hint)
        except (ValueError, TypeError, InvalidOperation, binascii.Error, OverflowError):
            result = _INVALID
        return self.fail(path, hint, value) if result is _INVALID else result

    def _scalar(self, value: Any, hint: type) -> Any:
        lenient = self.lenient
        if hint is bool:
            if isinstance(value, bool):
                return value
            return to_bool(value) if lenient else _INVALID
        if isinstance(value, bool):
            return _INVALID
        if issubclass(hint, enum.Enum):
            return _enum(value, hint)
        if isinstance(value, hint):
            return value
        if hint is int:
            if isinstance(value, float):
                return exact_int(value)
            return int(value.strip()) if lenient and isinstance(value, str) else _INVALID
        if hint is float:
            if isinstance(value, int):
                return exact_float(value)
            return float(value.strip()) if lenient and isinstance(value, str) else _INVALID
        if hint is str:
            return str(value) if lenient and isinstance(value, (int, float, Decimal)) else _INVALID
        if hint is Decimal:
            return Decimal(str(value).strip()) if isinstance(value, (str, int, float)) else _INVALID
        if not isinstance(value, str):
            return _INVALID
        return _from_text(value.strip(), hint)


# Every integer of at most 53 bits is a float exactly, and only those: a float beyond may be the
# rounding of several integers (9007199254740993 reads as 9007199254740992.0).
_EXACT_FLOAT_INTS = 2**53


def exact_int(value: float) -> int:
    """The integer a float is, or ValueError when it is not one for sure: not integral (1.5, nan),
    or at or beyond 2**53, where the float may be a rounded reading of another number."""
    if not value.is_integer() or abs(value) >= _EXACT_FLOAT_INTS:
        raise ValueError(f"{value!r} is not exactly an integer")
    return int(value)


def exact_float(value: int) -> float:
    """The float an integer is, or ValueError when a float would round it (2**70 + 1)."""
    result = float(value)
    if int(result) != value:
        raise ValueError(f"{value!r} has more digits than a float holds")
    return result


def _from_text(text: str, hint: type) -> Any:
    """Types that JSON carries as strings."""
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if hint is dt.date:
        return dt.date.fromisoformat(text)
    if hint is dt.time:
        return dt.time.fromisoformat(text)
    if hint is uuid.UUID:
        return uuid.UUID(text)
    if issubclass(hint, Path):
        return hint(text)
    if hint is bytes:
        return base64.b64decode(text, validate=True)
    return _INVALID


def _enum(value: Any, hint: type[enum.Enum]) -> Any:
    for member in hint:
        if value == member.value:
            return member
    if isinstance(value, str):
        for member in hint:
            if value.strip().lower() in (member.name.lower(), str(member.value).lower()):
                return member
    return _INVALID


def _spells_null(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _NULL


def _json(text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return _INVALID
    return value if isinstance(value, kind) else _INVALID


@functools.lru_cache(maxsize=1024)
def _only_shape(members: tuple[Any, ...]) -> type | None:
    """The one dataclass among a union's members when no other member takes a mapping."""
    shapes = [member for member in members if dataclasses.is_dataclass(member)]
    others = [member for member in members if member is not type(None) and member not in shapes]
    takes_mappings = any(
        member is Any or member in (dict, Mapping) or get_origin(member) in (dict, Mapping) for member in others
    )
    return shapes[0] if len(shapes) == 1 and not takes_mappings else None


@functools.lru_cache(maxsize=1024)
def _type_hints(cls: type) -> dict[str, Any]:
    """A class's resolved field types, read once: `get_type_hints` costs microseconds per call."""
    return typing.get_type_hints(cls)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
