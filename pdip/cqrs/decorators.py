"""`@dtoclass`, `@requestclass`, `@responseclass`: dataclasses that travel as JSON.

Fields are keyword-only, so a required field may follow one with a default (also across
inheritance) and none needs a default. `to_dict()` gives JSON-ready data (datetimes and dates
as ISO text, decimals and UUIDs as text, enums as values, nested DTOs and lists as such) and
`from_dict()` reverses it, raising ValidationError that lists every bad field with its path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pdip.conversion import ConversionError, convert, to_plain
from pdip.cqrs.errors import ValidationError

T = TypeVar("T")


def _to_dict(self) -> dict[str, Any]:
    return to_plain(self)


_to_dict.__pdip_fields__ = True  # it writes the fields, as to_plain does: a serialiser may write them itself


def _from_dict(cls: type[T], data: Mapping[str, Any], *, lenient: bool = False) -> T:
    """An instance from JSON-like data; `lenient=True` also converts text (query strings)."""
    try:
        return convert(data, cls, lenient=lenient)
    except ConversionError as error:
        raise ValidationError(cls.__qualname__, error.problems) from None


def _make(kind: str):
    def decorator(cls: type | None = None, /, *, frozen: bool = False):
        def wrap(target: type) -> type:
            made = dataclasses.dataclass(target, kw_only=True, frozen=frozen)
            if "to_dict" not in target.__dict__:
                made.to_dict = _to_dict
            if "from_dict" not in target.__dict__:
                made.from_dict = classmethod(_from_dict)
            made.__pdip_dto__ = kind
            return made

        return wrap if cls is None else wrap(cls)

    decorator.__name__ = f"{kind}class"
    decorator.__doc__ = f"Make a class a {kind} DTO: a keyword-only dataclass with to_dict() and from_dict()."
    return decorator


dtoclass = _make("dto")
requestclass = _make("request")
responseclass = _make("response")

__all__ = ["dtoclass", "requestclass", "responseclass"]
