"""Values a SQL column would store changed, without an error: found before the write and refused
with the reason, never stored rounded or shifted.

- A decimal column (`numeric(p, s)`) rounds a value with more than `s` decimal places, on
  PostgreSQL, MariaDB/MySQL, SQL Server and Oracle alike ('1.005' is stored as 1.01).
- SQLite keeps a decimal as a double (15 significant digits).
- An integer column takes a fraction rounded where the driver binds it as a number (a row the
  database is given by itself, MariaDB/MySQL always); PostgreSQL's COPY refuses it.
- A timestamp column keeps a number of digits of a second (PostgreSQL's and SQLite's six,
  MySQL's and MariaDB's `DATETIME` none unless declared with more): an instant finer than that
  (nanoseconds from a Parquet file pandas wrote, microseconds into a `DATETIME(0)`) would be
  rounded or cut.
- PostgreSQL's `timestamp` (without time zone) drops a time zone written in the text
  ('2026-01-01 10:00+02' is stored as 10:00, two hours off the instant meant).
- SQLite's date and time columns take text only as ISO 8601 (the target reads it into a date or
  a datetime, `iso_value`); other text is refused here, not failed on at the driver.
- A binary float column (`double precision`, `real`, MariaDB's DOUBLE and FLOAT, SQLite's REAL)
  rounds a number that carries more digits than it holds: an integer beyond 2**53 (2**24 for a
  4-byte column), a decimal or numeric text such as '0.1000000000000000055511151231257827'. A
  number is held when the column gives it back: as the float's exact value or its shortest text.
  A float value is already binary: into a double column it passes; into a 4-byte one it is
  narrowed as the column's type says (the documented rule, docs/integrator.md), not refused.

A column whose source declares a type that cannot carry the problem (an integer into a decimal
column, a `numeric(10, 2)` into a `numeric(12, 2)`, a timestamp that is not text, a float or a
32-bit integer into a double column) is not looked at, so a copy between typed tables pays nothing.
Integers are passed over without a call, except by a float column's check (`Check.ints`), which
looks no further at one within 2**53.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from pdip.integrator.adapters.file.values import CONVERSION_ERRORS, VALUE_TYPES
from pdip.integrator.types import ColumnTypes

Check = Callable[[Any], "str | None"]

# the minutes or seconds of a time followed by a zone: an offset, `Z`, or a name ('UTC',
# 'Europe/Paris'). Both patterns start with a literal, which Python's `re` scans for at C speed
# (one that starts with a digit tries every digit: eight times as long over a CSV batch)
_ZONE = r":\d\d(?:\.\d+)?[ \t]*[+\-A-Za-z]"
_ZONE_TEXT = re.compile(_ZONE)
ZONE_BYTES = re.compile(_ZONE.encode())


def column_checks(
    table: sa.Table, columns: Sequence[str], dialect: sa.Dialect, declared: ColumnTypes | None
) -> list[tuple[int, Check]]:
    """(index in `columns`, check) for each column of `table` that could store a value changed;
    a check gives the reason a value would be changed, or None."""
    found = []
    sources = _declared(columns, declared)
    for index, name in enumerate(columns):
        if name in table.c:
            check = _check(name, table.c[name].type, dialect, sources.get(name))
            if check is not None:
                found.append((index, check))
    return found


def refused(rows: Sequence[Sequence[Any]], checks: list[tuple[int, Check]]) -> tuple[list, list[tuple[tuple, str]]]:
    """The rows no check objects to, and the others with the first reason found."""
    if not checks:
        return list(rows), []
    looked = [(index, check, _ints(check)) for index, check in checks]
    kept, refusals = [], []
    for row in rows:
        reason = None
        for index, check, ints in looked:
            value = row[index]
            if value is not None and (ints or type(value) is not int):
                reason = check(value)
                if reason is not None:
                    break
        if reason is None:
            kept.append(row)
        else:
            refusals.append((tuple(row), reason))
    return kept, refusals


def named_checks(table: sa.Table, dialect: sa.Dialect) -> list[tuple[str, Check]]:
    """(column name, check) for each column of `table` that could store a value changed, for
    values that come without declared types (a change log's entries)."""
    names = [column.name for column in table.c]
    return [(names[index], check) for index, check in column_checks(table, names, dialect, None)]


_PASSED_OVER = frozenset({int, type(None)})  # the values no check is asked about


def changed_value(values: Mapping[str, Any], checks: list[tuple[str, Check]]) -> str | None:
    """The first reason a check gives against one of `values` (by column name), or None. Values
    that are all ints and nulls (most updates of a change stream) are passed over in one look,
    unless a float column's check looks at ints."""
    if not checks or (
        _PASSED_OVER.issuperset(map(type, values.values())) and not any(_ints(check) for _, check in checks)
    ):
        return None
    for name, check in checks:
        value = values.get(name)
        if value is not None and (type(value) is not int or _ints(check)):
            reason = check(value)
            if reason is not None:
                return reason
    return None


_DIGITS_AS_ZERO = bytes(ord("0") if ord("0") <= code <= ord("9") else code for code in range(256))


def more_digits(checks: list[tuple[int, Check]]) -> Callable[[bytes], bool] | None:
    """Whether text may hold a number of more significant digits than a checked float column
    holds every value of (16 for a double), None without such a column. Such a number, with at
    most one point, has a run of half its digits: every digit is made '0' by one `translate` and
    the run looked for as a literal (a regex of digits takes fourteen times as long). It finds
    more than it must (a long id; a date, for a 4-byte column): a find only costs decoding."""
    held = [check.digits for _, check in checks if getattr(check, "digits", None) is not None]
    if not held:
        return None
    run = b"0" * ((min(held) + 2) // 2)
    return lambda payload: run in payload.translate(_DIGITS_AS_ZERO)


def _ints(check: Check) -> bool:
    """Whether `check` is asked about int values too (a float column's)."""
    return getattr(check, "ints", False)


def zone_in_text(checks: list[tuple[int, Check]]) -> bool:
    """Whether a check looks for a time zone in a timestamp's text (see `ZONE_BYTES`)."""
    return any(getattr(check, "zone", False) for _, check in checks)


def more_places(checks: list[tuple[int, Check]]) -> re.Pattern[bytes] | None:
    """A pattern of a number in text with more decimal places than a checked decimal column
    keeps (not a time's fraction of a second), None without such a column."""
    kept = [check.places for _, check in checks if getattr(check, "places", None) is not None]
    return re.compile(rb"\.(?<!:\d\d\.)\d{%d}" % (min(kept) + 1)) if kept else None


def _declared(columns: Sequence[str], declared: ColumnTypes | None) -> dict[str, sa.types.TypeEngine]:
    if declared is None:
        return {}
    names = declared.names or tuple(columns)
    return {name: kind for name, kind in zip(names, declared.types, strict=False) if kind is not None}


def _check(
    name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect, source: sa.types.TypeEngine | None
) -> Check | None:
    digits = _digits_kept(kind, dialect) if isinstance(kind, sa.DateTime) else None
    if digits is not None and _finer(source, digits):
        return _within_digits(name, digits)
    if isinstance(kind, sa.Float):
        bits = significand_bits(kind, dialect)
        return None if _float_safe(source, bits) else _float_holds(name, bits, _shown(kind, dialect))
    if isinstance(kind, sa.Numeric):
        if isinstance(source, sa.Integer):
            return None
        if dialect.name == "sqlite":
            return _double_holds(name)
        if kind.scale is None or _fits_scale(source, kind.scale):
            return None
        return _within_places(name, kind, dialect)
    if isinstance(kind, sa.Integer) and dialect.name != "sqlite" and not isinstance(source, sa.Integer):
        return _whole(name, kind, dialect)
    if (
        dialect.name == "sqlite"
        and isinstance(kind, sa.Date | sa.DateTime)
        and not isinstance(source, sa.Date | sa.DateTime)
    ):
        return _iso(name, kind, dialect)
    if (
        isinstance(kind, sa.DateTime)
        and not kind.timezone
        and dialect.name == "postgresql"
        and not isinstance(source, sa.DateTime | sa.Date)
    ):
        return _no_zone(name)
    return None


def _digits_kept(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> int | None:
    """The digits of a second a timestamp column keeps: PostgreSQL's and SQLite's (SQLAlchemy's
    text) six unless declared fewer, MySQL's and MariaDB's DATETIME none unless declared more;
    None where this is not known (SQL Server's DATETIME keeps 1/300 s, checked by no one here)."""
    if dialect.name in ("mysql", "mariadb"):
        return getattr(kind, "fsp", None) or 0
    if dialect.name in ("postgresql", "sqlite"):
        precision = getattr(kind, "precision", None)
        return 6 if precision is None else precision
    return None


# the digits of a second an Arrow timestamp of each unit carries
UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _finer(source: Any, digits: int) -> bool:
    """Whether values of the declared `source` type may hold more digits of a second than
    `digits`: an Arrow timestamp by its unit (pandas writes nanoseconds), a SQL one or values of
    no declared type (a change log's) by what Python's datetime holds (microseconds). Text is
    the database's to parse: it is not looked at here."""
    unit = getattr(source, "unit", None)  # an Arrow timestamp's
    if unit is not None:
        return UNIT_DIGITS[unit] > digits
    return digits < 6 and (source is None or isinstance(source, sa.DateTime))


def _within_digits(name: str, digits: int) -> Check:
    step = 10 ** (9 - digits)  # in nanoseconds

    def check(value: Any) -> str | None:
        if not isinstance(value, dt.datetime):
            return None
        nanoseconds = value.microsecond * 1000 + getattr(value, "nanosecond", 0)  # a pandas Timestamp's
        if not nanoseconds % step:
            return None
        return f"column {name!r} keeps {digits} digits of a second: {value} would be rounded"

    return check


def significand_bits(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> int:
    """The bits of a float column's significand: 24 for a 4-byte column (`real`, MariaDB's FLOAT),
    53 for a double (SQLite's REAL is one)."""
    if dialect.name == "sqlite" or isinstance(kind, sa.Double):
        return 53
    single = isinstance(kind, sa.REAL) or (isinstance(kind, sa.FLOAT) and (kind.precision or 0) <= 24)
    return 24 if single else 53


# the widest integer, and the most decimal digits, every value of a source type a float column of
# so many significand bits holds exactly
_WHOLE_TYPES = {53: (sa.SmallInteger, sa.Integer), 24: (sa.SmallInteger,)}
DIGITS = {53: 15, 24: 6}
_NARROW_ARROW = {"halffloat", "float", "double", "int8", "uint8", "int16", "uint16"}
_ARROW_FLOAT_SAFE = {53: _NARROW_ARROW | {"int32", "uint32"}, 24: _NARROW_ARROW}


def _float_safe(source: sa.types.TypeEngine | None, bits: int) -> bool:
    """Whether the source's declared type rules out a value a float column of `bits` would round:
    a float (already binary), a narrow integer, a decimal of few digits; of an Arrow source's
    schema (a Parquet file's), a float or an integer as narrow."""
    if source is not None and not isinstance(source, sa.types.TypeEngine):  # an Arrow type
        return str(source) in _ARROW_FLOAT_SAFE[bits]
    if isinstance(source, sa.Float):
        return True
    if isinstance(source, sa.Integer):
        return isinstance(source, _WHOLE_TYPES[bits]) and not isinstance(source, sa.BigInteger)
    return isinstance(source, sa.Numeric) and source.precision is not None and source.precision <= DIGITS[bits]


_SINGLE_MAX = 3.4028234663852886e38  # the largest 4-byte float


def _narrowed(number: float, bits: int) -> float:
    """`number` as a float column of `bits` keeps it (a 4-byte float, or the double itself);
    infinite beyond the column's range (which `struct` refuses on Python before 3.12)."""
    if bits == 53 or not abs(number) <= _SINGLE_MAX:
        return number if bits == 53 else math.copysign(math.inf, number)
    return struct.unpack("f", struct.pack("f", number))[0]


def _float_text(number: float, bits: int) -> str:
    """The shortest text of a float of `bits` that reads back as it (a double's `repr`)."""
    if bits == 53:
        return repr(number)
    return next(
        text for text in (f"{number:.{digits}g}" for digits in range(1, 10)) if _narrowed(float(text), 24) == number
    )


def float_change(value: Any, bits: int) -> str | None:
    """What a float column of `bits` would do to `value` (an int, a decimal, numeric text), in
    words, or None: when the float, as its exact value or its shortest text, is the same number,
    or `value` is no number (the database says so), or is a float."""
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**bits) <= value <= 2**bits:
            return None
        number = Decimal(value)
    elif isinstance(value, float | bool):
        return None
    else:
        number = _decimal(value)
        if number is None or not number.is_finite():
            return None
    kept = _narrowed(float(number), bits)
    if math.isinf(kept):
        return "is beyond its range"
    if Decimal(kept) == number:
        return None
    text = _float_text(kept, bits)
    if Decimal(text) == number:
        return None
    return f"would be stored as {int(kept) if kept.is_integer() and abs(kept) < 1e17 else text}"


def _float_holds(name: str, bits: int, shown: str) -> Check:
    def check(value: Any) -> str | None:
        change = float_change(value, bits)
        return None if change is None else f"column {name!r} is {shown}: {value} {change}"

    check.ints = True
    check.digits = DIGITS[bits]
    return check


def _fits_scale(source: sa.types.TypeEngine | None, scale: int) -> bool:
    return (
        isinstance(source, sa.Numeric)
        and not isinstance(source, sa.Float)
        and source.scale is not None
        and source.scale <= scale
    )


def _decimal(value: Any) -> Decimal | None:
    """`value` as the decimal it stands for, read as a file's `types: {x: decimal}` reads it (a
    float as its shortest text); None if it is none (not a number: the database says so)."""
    try:
        return VALUE_TYPES["decimal"](value)
    except CONVERSION_ERRORS:
        return None


def _within_places(name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect) -> Check:
    scale = kind.scale
    shown = _shown(kind, dialect)

    def check(value: Any) -> str | None:
        number = _decimal(value)
        if number is None or not number.is_finite() or number.as_tuple().exponent >= -scale:
            return None
        if number == round(number, scale):  # trailing zeros: 1.500 in two places
            return None
        return f"column {name!r} is {shown}: {value} has more than {scale} decimal places and would be rounded"

    check.places = scale
    return check


def _whole(name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect) -> Check:
    shown = _shown(kind, dialect)

    def check(value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        number = _decimal(value)
        if number is None or not number.is_finite() or number == number.to_integral_value():
            return None
        return f"column {name!r} is {shown}: {value} is not a whole number and would be rounded"

    return check


def _no_zone(name: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and _ZONE_TEXT.search(value):
            return (
                f"column {name!r} is a timestamp without time zone: the zone in {value!r} would be dropped, "
                "shifting the time; make the column timestamptz, or give times without a zone"
            )
        return None

    check.zone = True
    return check


def iso_value(kind: sa.types.TypeEngine, text: str) -> dt.date:
    """`text` as the date or datetime an ISO 8601 date (and time) spells; ValueError if none."""
    return VALUE_TYPES["datetime" if isinstance(kind, sa.DateTime) else "date"](text)


def _iso(name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect) -> Check:
    what = "date and time" if isinstance(kind, sa.DateTime) else "date"
    shown = _shown(kind, dialect)

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        try:
            iso_value(kind, value)
        except ValueError:
            return f"column {name!r} is {shown}: {value!r} is no ISO 8601 {what}"
        return None

    return check


def _double_holds(name: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, Decimal) or (value.is_finite() and Decimal(repr(float(value))) == value):
            return None
        return f"SQLite keeps 15 significant digits of a decimal: {value} would be {float(value)!r}"

    return check


def _shown(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    return str(kind.compile(dialect=dialect))  # reflected from this dialect: it compiles there
