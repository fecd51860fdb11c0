"""Values of the `types` setting (`types: {id: int, paid: bool}`): one conversion per type name
of the type map (`pdip.integrator.types.FILE_TYPE_NAMES`).

A value converts exactly or not at all: `1.5` is no `int`, `"1e999"` no `float`; never rounded,
never made NULL. A reader refuses the line of a value that does not convert (`CONVERSION_ERRORS`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pdip.configuration.settings import Setting
from pdip.conversion import to_bool, to_plain
from pdip.conversion.coercion import exact_float, exact_int
from pdip.integrator.types import FILE_TYPE_NAMES


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value)
    if isinstance(value, float):
        return exact_int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(value)


def _to_float(value: Any) -> float:
    """A float, never a rounded integer or an overflow turned infinite ("1e999"); text that
    spells infinity (`inf`, `-Infinity`) is infinite."""
    if type(value) is str:  # the usual value, first
        result = float(value)
        if (result == _INFINITY or result == -_INFINITY) and "inf" not in value.lower():
            raise ValueError(f"{value!r} is beyond the range of a float")
        return result
    if isinstance(value, bool):
        raise ValueError(value)
    return exact_float(value) if isinstance(value, int) else float(value)


_INFINITY = math.inf


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, (bool, dt.date)):
        raise ValueError(value)
    return Decimal(value.strip() if isinstance(value, str) else str(value))


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    plain = to_plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value.strip())


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = value.strip()
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)


VALUE_TYPES: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "integer": _to_int,
    "float": _to_float,
    "decimal": _to_decimal,
    "bool": to_bool,
    "boolean": to_bool,
    "text": to_text,
    "str": to_text,
    "string": to_text,
    "date": _to_date,
    "datetime": _to_datetime,
    "timestamp": _to_datetime,
}
CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, AttributeError)

TYPES = Setting(
    "types", dict[str, str], allowed=FILE_TYPE_NAMES, help="`column: type`; without it CSV values stay text"
)


def types_problems(types: dict[str, str]) -> list[str]:
    return [
        f"types.{column}: expected int, float, decimal, bool, text, date or datetime, got {name!r}"
        for column, name in types.items()
        if name.lower() not in VALUE_TYPES
    ]
