"""What a controller returns, and what went wrong, as HTTP responses.

A controller may return a DTO or dataclass, a dict, a list, a scalar, None, an entity (its
columns), a `(value, status)` or `(value, status, headers)` tuple, or a Flask `Response` that is
sent as is. Values come out as `pdip.conversion.to_plain` writes them: datetimes, decimals, UUIDs and
enums as JSON text. orjson writes the body when it writes it the same way (DTOs, dicts, lists,
datetimes, UUIDs: tens of times faster than walking the value in Python, which a page of rows
spent most of its time on); the standard library writes what orjson cannot (integers beyond 64
bits, text with lone surrogates) and a DTO with a `to_dict()` of its own. JSON has no NaN:
non-finite numbers are written as null. With `API.ENVELOPE: true` a success is wrapped as
`{"IsSuccess": true, "Message": null, "Result": ...}`; None is then a 200, otherwise a 204.

Errors are RFC 9457 problem details (`application/problem+json`): `type`, `title`, `status`,
`detail`, `instance`, and `errors` per field for a bad request.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from werkzeug.wrappers import Response

from pdip.conversion import to_plain

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """`to_plain`, plus objects that know their own shape: `to_dict()` and mapped entities."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {key if type(key) is str else to_plain(key): plain(item) for key, item in value.items()}
    if kind is list or isinstance(value, (tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {to_plain(key): plain(item) for key, item in value.items()}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_plain(to_dict())
    mapper = getattr(kind, "__mapper__", None)
    if mapper is not None and hasattr(mapper, "column_attrs"):
        return {attribute.key: to_plain(getattr(value, attribute.key)) for attribute in mapper.column_attrs}
    return to_plain(value)


def json_text(value: Any) -> bytes | str:
    """`plain(value)` as compact JSON (UTF-8, nothing escaped that need not be)."""
    if _orjson_writes_as_plain(value):
        try:
            return orjson.dumps(value, default=_plain_or_refuse, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # orjson.JSONEncodeError: beyond 64 bits, a lone surrogate, a time with a zone
            pass
    return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None, mimetype: str = JSON):
    return Response(json_text(data), status=status, headers=dict(headers) if headers else None, mimetype=mimetype)


def result_response(result: Any, envelope: bool = False, status: int = 200) -> Response:
    """The response for what a controller action returned; `status` unless it says otherwise."""
    if isinstance(result, Response):
        return result
    headers = None
    if isinstance(result, tuple) and 2 <= len(result) <= 3 and isinstance(result[1], int):
        result, status, *rest = result
        headers = rest[0] if rest else None
    if envelope:
        return json_response({"IsSuccess": True, "Message": None, "Result": result}, status, headers)
    if result is None and status in (200, 204):
        return Response(status=204, headers=headers)
    return json_response(result, status, headers)


def problem(status: int, detail: str | None = None, **extensions: Any) -> dict[str, Any]:
    """A problem document; `title` is the status's reason phrase unless given."""
    title = extensions.pop("title", None) or _phrase(status)
    document = {"type": extensions.pop("type", None) or "about:blank", "title": title, "status": status}
    if detail:
        document["detail"] = detail
    document.update({key: value for key, value in extensions.items() if value is not None})
    return document


def problem_response(document: dict[str, Any], headers: Mapping[str, str] | None = None, envelope: bool = False):
    if envelope:
        document = {**document, "IsSuccess": False, "Message": document.get("detail") or document["title"]}
    return json_response(document, document["status"], headers, mimetype=PROBLEM_JSON)


_NATIVE_SCALARS = frozenset({str, int, float, bool, type(None)})
_DATACLASS_NATIVE: dict[type, bool] = {}  # per dataclass: does orjson write it as `plain` would?


def _orjson_writes_as_plain(value: Any) -> bool:
    """False when `plain` would call something orjson does not: a dataclass's own `to_dict()`
    (or a mapped entity's columns) where `plain` looks for them: at the top, in lists and dicts.
    orjson writes the fields of any other dataclass, as `to_plain` does, and asks
    `_plain_or_refuse` for what it does not know (decimals, sets, entities, `to_dict()` objects)."""
    kind = type(value)
    if kind in _NATIVE_SCALARS:
        return True
    if kind is list or kind is tuple:
        return all(map(_orjson_writes_as_plain, value))
    if kind is dict:
        return all(map(_orjson_writes_as_plain, value.values()))
    if not dataclasses.is_dataclass(kind):
        return True  # anything else orjson passes to _plain_or_refuse, which is `plain`
    native = _DATACLASS_NATIVE.get(kind)
    if native is None:
        to_dict = getattr(kind, "to_dict", None)
        own_shape = to_dict is not None and not getattr(to_dict, "__pdip_fields__", False)
        native = _DATACLASS_NATIVE[kind] = not own_shape and getattr(kind, "__mapper__", None) is None
    return native


def _plain_or_refuse(value: Any) -> Any:
    """orjson's `default`: what `plain` makes of a value orjson cannot write; TypeError when
    `plain` leaves it as it is (it cannot be written at all)."""
    made = plain(value)
    if made is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return made


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
