"""A request's route values, query string and JSON body, as an action's typed arguments.

The body is JSON and converted strictly (`5` for an int, `"5"` is an error); route values and
query strings are text and converted leniently (`?page=2`, `?active=yes`, `?tag=a&tag=b`).
Every problem is collected, so one 400 lists them all, each with its field and where it was.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from flask import request

from pdip.api.errors import BadRequestError, UnsupportedMediaTypeError, shown_value
from pdip.api.inputs import parse_json, text_flaw, unstorable, value_problem
from pdip.api.routing import BODY, QUERY, QUERY_OBJECT, ROUTE, Action, Argument
from pdip.conversion import ConversionError, convert

_MISSING = object()
_SEQUENCES = (list, tuple, set, frozenset)
_PASSED_AS_IS = (Any, dict, list, object)


class ArgumentReader:
    """Reads the arguments of one action from the current request."""

    def __init__(self, action: Action, max_page_size: int = 1000):
        self.arguments = action.arguments
        self.wants_body = action.body is not None
        self.accepts = action.accepts
        self.max_page_size = max_page_size
        self._many = {argument.name: _is_sequence(argument.hint) for argument in self.arguments}
        self._object_fields = {
            argument.name: {item.name: _is_sequence(hint) for item, hint in _fields(argument.hint)}
            for argument in self.arguments
            if argument.source == QUERY_OBJECT
        }
        # A value in the URL is never None: `id: int | None = None` converts "null" as an error.
        self._route_hints = {
            argument.name: _without_none(argument.hint) for argument in self.arguments if argument.source == ROUTE
        }

    def read(self, route_values: Mapping[str, str]) -> dict[str, Any]:
        if not self.arguments:
            return {}
        values, problems = {}, []
        for argument in self.arguments:
            value = self._one(argument, route_values, problems)
            if value is not _MISSING:
                values[argument.name] = value
        if problems:
            raise BadRequestError("the request is invalid", errors=problems)
        return values

    def _one(self, argument: Argument, route_values: Mapping[str, str], problems: list) -> Any:
        source = argument.source
        if source == BODY:
            return self._body(argument, problems)
        if source == ROUTE:
            raw = route_values.get(argument.name, _MISSING)
        elif source == QUERY:
            raw = _query_value(argument.name, self._many[argument.name])
        else:
            return self._query_object(argument, problems)
        if raw is _MISSING:
            if argument.required:
                problems.append(_problem(argument.name, source, "required"))
            return argument.default if not argument.required else _MISSING
        hint = self._route_hints.get(argument.name, argument.hint)
        value = _converted(raw, argument, source, problems, lenient=True, hint=hint)
        return self._checked(argument.name, value, source, problems)

    def _checked(self, name: str, value: Any, source: str, problems: list) -> Any:
        """`value`, or _MISSING with a problem when it is out of bounds or cannot be stored."""
        if value is _MISSING:
            return value
        problem = value_problem(name, value, self.max_page_size)
        if problem is None:
            return value
        problems.append(_problem(name, source, problem))
        return _MISSING

    def _body(self, argument: Argument, problems: list) -> Any:
        data = request.get_data(cache=True)
        if not data.strip():
            if argument.required:
                problems.append(_problem(argument.name, BODY, "a JSON body is required"))
                return _MISSING
            return argument.default
        mimetype = request.mimetype
        if mimetype in self.accepts:
            return self._raw_body(argument, data, problems)
        if mimetype != "application/json" and not mimetype.endswith("+json"):
            raise UnsupportedMediaTypeError(_unsupported(mimetype, self.accepts))
        value = parse_json(data)
        if argument.hint in _PASSED_AS_IS:
            return value
        return _converted(value, argument, BODY, problems, lenient=False, path_is_field=True)

    def _raw_body(self, argument: Argument, data: bytes, problems: list) -> Any:
        """A body of a type the action accepts besides JSON, as bytes or as UTF-8 text."""
        if argument.hint is bytes:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequestError(f"the body is not UTF-8 text: {error}") from None
        flaw = text_flaw(text)
        if flaw:
            problems.append(_problem(argument.name, BODY, f"the text {flaw}"))
            return _MISSING
        return text

    def _query_object(self, argument: Argument, problems: list) -> Any:
        fields = self._object_fields[argument.name]
        raw = {}
        for key in request.args:
            raw[key] = request.args.getlist(key) if fields.get(key) else request.args.get(key)
        flaws = [_problem(field, QUERY, message) for field, message in unstorable(raw)]
        if flaws:
            problems.extend(flaws)
            return _MISSING
        value = _converted(raw, argument, QUERY, problems, lenient=True, path_is_field=True)
        if value is _MISSING:
            return value
        checked = [self._checked(name, getattr(value, name), QUERY, problems) for name in fields]
        return _MISSING if any(item is _MISSING for item in checked) else value


def _converted(
    value: Any,
    argument: Argument,
    source: str,
    problems: list,
    lenient: bool,
    path_is_field: bool = False,
    hint: Any = _MISSING,
) -> Any:
    try:
        return convert(value, argument.hint if hint is _MISSING else hint, lenient=lenient)
    except ConversionError as error:
        for item in error.problems:
            field = item.path if path_is_field else _join(argument.name, item.path)
            field = field or argument.name
            message = item.detail(lambda _, value, field=field: shown_value(field, value))
            problems.append(_problem(field, source, message))
        return _MISSING


def _unsupported(mimetype: str, accepted: tuple[str, ...]) -> str:
    expected = ", ".join(("application/json", *accepted))
    return f"the body's Content-Type is {mimetype or 'missing'}; this action reads {expected}"


def _query_value(name: str, many: bool) -> Any:
    args = request.args
    if name not in args:
        return _MISSING
    return args.getlist(name) if many else args.get(name)


def _problem(field: str, source: str, message: str) -> dict[str, str]:
    return {"field": field, "in": "query" if source == QUERY_OBJECT else source, "message": message}


def _join(name: str, path: str) -> str:
    if not path:
        return name
    return f"{name}{path}" if path.startswith("[") else f"{name}.{path}"


def _is_sequence(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_is_sequence(member) for member in get_args(hint) if member is not type(None))
    return (origin or hint) in _SEQUENCES


def _without_none(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        members = [member for member in get_args(hint) if member is not type(None)]
        if len(members) == 1:
            return members[0]
    return hint


def _fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(item, hints.get(item.name, Any)) for item in dataclasses.fields(cls) if item.init]
