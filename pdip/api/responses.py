"""What a controller returns, and what went wrong, as HTTP responses.

A controller may return a DTO or dataclass, a dict, a list, a scalar, None, an entity (its
columns), a `(value, status)` or `(value, status, headers)` tuple, or a Flask `Response` that is
sent as is. Values go through `pdip.conversion.to_plain`, so datetimes, decimals, UUIDs and
enums come out as JSON text. With `API.ENVELOPE: true` a success is wrapped as
`{"IsSuccess": true, "Message": null, "Result": ...}`; None is then a 200, otherwise a 204.

Errors are RFC 9457 problem details (`application/problem+json`): `type`, `title`, `status`,
`detail`, `instance`, and `errors` per field for a bad request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

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


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None, mimetype: str = JSON):
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, headers=dict(headers) if headers else None, mimetype=mimetype)


def result_response(result: Any, envelope: bool = False, status: int = 200) -> Response:
    """The response for what a controller action returned; `status` unless it says otherwise."""
    if isinstance(result, Response):
        return result
    headers = None
    if isinstance(result, tuple) and 2 <= len(result) <= 3 and isinstance(result[1], int):
        result, status, *rest = result
        headers = rest[0] if rest else None
    if envelope:
        return json_response({"IsSuccess": True, "Message": None, "Result": plain(result)}, status, headers)
    if result is None and status in (200, 204):
        return Response(status=204, headers=headers)
    return json_response(plain(result), status, headers)


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


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
