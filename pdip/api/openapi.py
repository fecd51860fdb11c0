"""Swagger (OpenAPI 2.0, what Flask-Restx serves) documentation read from actions' type hints.

A DTO becomes a definition (its fields, their JSON types, which are required); a body parameter
becomes the operation's body schema, query and route parameters become parameters with their
types, and a DTO return annotation becomes the 200 response's schema. Nothing is written twice:
the hints that convert a request are the ones that document it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from decimal import Decimal
from typing import Any, Union, get_args, get_origin

from pdip.api.inputs import INT64_MAX, INT64_MIN, PAGE_NAME, PAGE_SIZE_NAMES, last_page_number
from pdip.api.routing import BODY, QUERY, QUERY_OBJECT, ROUTE, Action, Argument, route_placeholders

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    Decimal: {"type": "string", "format": "decimal"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    dt.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    bytes: {"type": "string", "format": "byte"},
}
_SEQUENCES = (list, tuple, set, frozenset)

PROBLEM = "Problem"
PROBLEM_DEFINITION: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document (application/problem+json)",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "reference": {"type": "string", "description": "finds the logged error of a 5xx"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "in": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


class Schemas:
    """JSON schemas of types, collecting the definitions of the dataclasses they mention."""

    def __init__(self):
        self.definitions: dict[str, dict] = {}
        self._names: dict[type, str] = {}

    def of(self, hint: Any) -> dict[str, Any]:
        if hint in _SCALARS:
            return dict(_SCALARS[hint])
        origin, args = get_origin(hint), get_args(hint)
        if origin is typing.Annotated:
            return self.of(args[0])
        if origin in (Union, types.UnionType):
            members = [member for member in args if member is not type(None)]
            if len(members) == 1:
                return {**self.of(members[0]), "x-nullable": True}
            return {}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in _SEQUENCES or hint in _SEQUENCES:
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin is dict or hint is dict:
            return {"type": "object", "additionalProperties": self.of(args[1]) if len(args) == 2 else {}}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            values = [member.value for member in hint]
            kind = "integer" if all(isinstance(value, int) for value in values) else "string"
            return {"type": kind, "enum": values}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return {"$ref": f"#/definitions/{self.define(hint)}"}
        return {}

    def define(self, cls: type) -> str:
        """The definition name of a dataclass, adding its definition on first use."""
        name = self._names.get(cls)
        if name is not None:
            return name
        name = cls.__name__
        taken = set(self._names.values())
        number = 2
        while name in taken:
            name, number = f"{cls.__name__}{number}", number + 1
        self._names[cls] = name
        hints = typing.get_type_hints(cls)
        properties, required = {}, []
        for item in dataclasses.fields(cls):
            if not item.init:
                continue
            properties[item.name] = self.of(hints.get(item.name, Any))
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                required.append(item.name)
        # Unknown fields are refused when a request is read, so the schema says so.
        definition: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            definition["required"] = required
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            definition["description"] = cls.__doc__.strip().splitlines()[0]
        self.definitions[name] = definition
        return name


def parameters(action: Action, schemas: Schemas, max_page_size: int = 1000) -> dict[str, dict[str, Any]]:
    """The route and query parameters of an action, as Swagger parameter objects by name."""
    found = _parameters(action, schemas)
    for name, parameter in found.items():
        if parameter["in"] != "query" or parameter.get("type") != "integer":
            continue
        if name in PAGE_SIZE_NAMES:
            parameter.update(minimum=1, maximum=max_page_size)
        elif name == PAGE_NAME:
            parameter.update(minimum=1, maximum=last_page_number(max_page_size))
    return found


def error_codes(action: Action, authenticated: bool, tenant_checked: bool) -> list[int]:
    """The 4xx statuses an action answers by itself, each with a problem document: what the
    request may get wrong (400), its credential (401) and tenant (403), what its route names
    (404), and its body (413, 415)."""
    codes = []
    if action.arguments or tenant_checked:
        codes.append(400)
    if authenticated:
        codes.append(401)
    if authenticated or tenant_checked:
        codes.append(403)
    if route_placeholders(action.url):
        codes.append(404)
    if action.body is not None:
        codes.extend((413, 415))
    return codes


def _parameters(action: Action, schemas: Schemas) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    in_url = route_placeholders(action.url)
    for argument in action.arguments:
        if argument.source == ROUTE:
            if argument.name not in in_url:  # served at a shorter URL too, where it takes its default
                continue
            found[argument.name] = {"in": "path", "required": True, **_simple(schemas.of(argument.hint))}
        elif argument.source == QUERY:
            found[argument.name] = _query(argument.name, schemas.of(argument.hint), argument.required)
        elif argument.source == QUERY_OBJECT:
            hints = typing.get_type_hints(argument.hint)
            for item in dataclasses.fields(argument.hint):
                required = item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
                found[item.name] = _query(item.name, schemas.of(hints.get(item.name, Any)), required)
    return found


def body_schema(action: Action, schemas: Schemas) -> tuple[Argument, dict[str, Any]] | None:
    argument = next((argument for argument in action.arguments if argument.source == BODY), None)
    if argument is None:
        return None
    return argument, schemas.of(argument.hint) or {"type": "object"}


def _query(name: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    parameter = {"in": "query", "required": required, **_simple(schema)}
    if parameter.get("type") == "array":
        parameter["collectionFormat"] = "multi"
    return parameter


def _simple(schema: dict[str, Any]) -> dict[str, Any]:
    """Swagger 2.0 parameters outside the body take a plain type, never a `$ref`."""
    if "$ref" in schema or not schema:
        return {"type": "string"}
    simple = {key: value for key, value in schema.items() if key != "x-nullable"}
    if simple.get("type") == "array":
        simple["items"] = _simple(simple.get("items") or {})
    elif "type" not in simple:
        simple["type"] = "string"
    return simple
