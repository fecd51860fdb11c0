"""What a connection kind takes: each adapter module declares its settings next to its code.

    SETTINGS = (
        Setting("path", str, required=True, help="a file, a folder or a glob"),
        Setting("compression", str, default="snappy", allowed=("none", "snappy", "gzip")),
        Setting("password", str, secret=True, help="the database user's password"),
    )
    ADAPTER = Adapter(("thing",), ThingSource, ThingTarget, settings=SETTINGS)

The loader, `pdip validate`, the integrator (before any data moves) and the docs' tables read
these declarations, so a misspelt setting (`databse:`) is refused with the closest valid name
instead of being ignored. `problems(values, declared, kind)` lists everything wrong with a
connection's settings at once: unknown names, values of the wrong type, values outside the
allowed ones, missing required settings. A secret's value is never echoed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pdip.configuration.errors import closest
from pdip.conversion import ConversionError, convert, expected

MASK = "***"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a connection kind.

    `type` is a hint `pdip.conversion` understands (`str`, `int`, `list[str]`, `dict[str, str]`,
    `str | list[str]`); values convert leniently, as `${VAR}` substitution makes text of
    everything. `allowed` are the values it may take (case-insensitive; for a list or mapping,
    each item or value); `default` is what the adapter uses when it is not given (documentation:
    the adapter applies it)."""

    name: str
    type: Any = str
    required: bool = False
    default: Any = None
    allowed: tuple[str, ...] = ()
    secret: bool = False
    help: str = ""


@dataclasses.dataclass(frozen=True)
class SettingProblem:
    """What is wrong with one setting: `key` is its path as written (`types.id` inside one)."""

    key: str
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


def names(declared: Iterable[Setting]) -> tuple[str, ...]:
    return tuple(setting.name for setting in declared)


def problems(
    values: Mapping[str, Any], declared: Iterable[Setting], kind: str, required: bool = True
) -> list[SettingProblem]:
    """Every problem of a connection's `values` (keys compared lower-case) against `declared`;
    `required=False` leaves out missing required settings (a named connection that integrations
    complete)."""
    declared = {setting.name: setting for setting in declared}
    given = {str(key).lower(): (str(key), value) for key, value in values.items()}
    found = [unknown(written, declared, kind) for name, (written, _) in given.items() if name not in declared]
    for name, setting in declared.items():
        written, value = given.get(name, (name, None))
        if value is None:
            if setting.required and required:
                found.append(SettingProblem(name, f"required for {kind} connections ({setting.help or setting.type})"))
            continue
        found.extend(_value_problems(written, value, setting))
    return found


def unknown(key: str, declared: Iterable[str], kind: str) -> SettingProblem:
    """`key` is not a setting of `kind`: the known ones, and the closest of them."""
    known = sorted(declared)
    suggestion = closest(key.lower(), known, quoted=True)
    return SettingProblem(
        key, f"unknown setting for {kind} connections (expected one of {', '.join(known)}){suggestion}"
    )


def _value_problems(key: str, value: Any, setting: Setting) -> list[SettingProblem]:
    try:
        converted = convert(value, setting.type, lenient=True)
    except ConversionError as error:
        inner = _structure_problems(key, error, setting)
        if inner:
            return inner
        # otherwise one line per setting: the setting's type says more than the part that failed
        shown = MASK if setting.secret else repr(value)
        return [SettingProblem(key, f"expected {expected(setting.type)}, got {shown}")]
    if not setting.allowed:
        return []
    items = converted.items() if isinstance(converted, Mapping) else None
    if items is None:
        items = [(None, item) for item in converted] if isinstance(converted, (list, tuple)) else [(None, converted)]
    allowed = [choice.lower() for choice in setting.allowed]
    found = []
    for inner, item in items:
        if str(item).lower() not in allowed:
            suggestion = closest(str(item).lower(), allowed, quoted=True)
            where = f"{key}.{inner}" if inner is not None else key
            shown = MASK if setting.secret else repr(item)
            found.append(
                SettingProblem(where, f"expected one of {', '.join(setting.allowed)}, got {shown}{suggestion}")
            )
    return found


def _structure_problems(key: str, error: ConversionError, setting: Setting) -> list[SettingProblem]:
    """What is wrong inside a mapping given to a setting whose type is a dataclass (alone or in a
    union): each key at fault (`paginate.page.size: expected int`), where the type alone would
    say less; a secret setting's values masked."""
    members = get_args(setting.type) if get_origin(setting.type) in (Union, UnionType) else (setting.type,)
    if not any(dataclasses.is_dataclass(member) for member in members):
        return []
    shown = (lambda path, item: MASK) if setting.secret else None
    return [
        SettingProblem(f"{key}.{problem.path}" if problem.path else key, problem.detail(shown))
        for problem in error.problems
    ]


def table(groups: Iterable[tuple[str, Iterable[Setting]]]) -> str:
    """A Markdown table of settings, one row per setting of each `(kinds, settings)` group: the
    docs' table is this function's output, and a test keeps the two equal."""
    rows = ["| kinds | setting | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for kinds, declared in groups:
        for setting in declared:
            default = "required" if setting.required else ("" if setting.default is None else f"`{setting.default!r}`")
            notes = [setting.help] if setting.help else []
            if setting.allowed:
                notes.append("one of " + ", ".join(f"`{choice}`" for choice in setting.allowed))
            if setting.secret:
                notes.append("secret: never shown")
            kind = expected(setting.type).replace("|", "or")
            rows.append(f"| {kinds} | `{setting.name}` | {kind} | {default} | {'; '.join(notes)} |")
    return "\n".join(rows) + "\n"
