"""Errors of the API area, and how an exception becomes an HTTP status.

A controller answers with an error by raising: `ApiError` and its subclasses carry their status;
a domain exception declares one with `@error_status(409)` (or the `API.ERROR_STATUS` mapping
names it), and a few of pdip's own errors have one built in (a ValidationError is 400, an
EntityNotFoundError 404). Anything else is a 500 whose detail stays in the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pdip.dependency.errors import PdiConfigurationError

E = TypeVar("E", bound=type)


class RoutingError(PdiConfigurationError):
    """A controller cannot be served as written; raised when the API is built, naming the method."""


class ServingError(RuntimeError):
    """`pdip api` cannot serve: no production WSGI server is installed, or the port is taken; the
    message says what to do."""


class ApiError(Exception):
    """An error answered as `application/problem+json` with its own status.

    `detail` is shown to the caller, so it must hold nothing secret; `errors` lists problems
    per field (`[{"field": "email", "message": "required"}]`)."""

    status: int = 500
    title: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        self.status = status or type(self).status
        self.title = title or type(self).title
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        super().__init__(detail or self.title or f"HTTP {self.status}")


class BadRequestError(ApiError):
    status = 400


class UnauthorizedError(ApiError):
    status = 401


class ForbiddenError(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    status = 409


class UnsupportedMediaTypeError(ApiError):
    """A body of a media type the action does not read (415)."""

    status = 415


def error_status(status: int, title: str | None = None) -> Callable[[E], E]:
    """Declare the HTTP status of a domain exception: `@error_status(409)` above its class.

    The exception's message becomes the problem's detail for statuses below 500, so it should
    be written for the caller."""
    if not 400 <= status <= 599:
        raise ValueError(f"error_status: expected an HTTP error status (400-599), got {status}")

    def declare(cls: E) -> E:
        cls.__http_status__ = status
        cls.__http_title__ = title
        return cls

    return declare


# pdip's own errors that have a natural status, by "module:Class" so their areas need not load.
BUILT_IN_STATUS: dict[str, int] = {
    "pdip.cqrs.errors:ValidationError": 400,
    "pdip.data.errors:EntityNotFoundError": 404,
    "pdip.data.errors:TenantMismatchError": 403,
    "pdip.data.errors:ConstraintViolationError": 409,
}


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def declared_status(error: BaseException, configured: Mapping[str, int] | None = None) -> int | None:
    """The status `error` maps to by declaration, configuration or pdip's defaults; None if none."""
    for cls in type(error).__mro__:
        declared = cls.__dict__.get("__http_status__")
        if declared is not None:
            return declared
        path = class_path(cls)
        if configured:
            status = configured.get(path) or configured.get(path.replace(":", "."))
            if status is not None:
                return status
        if path in BUILT_IN_STATUS:
            return BUILT_IN_STATUS[path]
    return None


def shown_value(path: str, value: Any) -> str:
    """A rejected value as an error may show it: masked when the field's name looks secret."""
    from pdip.policy import MASK, is_secret_name

    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return MASK if is_secret_name(leaf) else repr(value)


def declared_title(error: BaseException) -> Any:
    for cls in type(error).__mro__:
        if "__http_title__" in cls.__dict__:
            return cls.__dict__["__http_title__"]
    return None
