"""`ControllerBase`: what a class derives from to answer HTTP requests.

    class AccountsController(ControllerBase):          # served at /api/Accounts
        @inject
        def __init__(self, dispatcher: Dispatcher):
            self.dispatcher = dispatcher

        def post(self, body):
            return self.dispatcher.dispatch(CreateAccountCommand(**body))

Controllers are found by discovery like services and built by the container for each request,
inside that request's DI scope. This module imports nothing from Flask, so discovery can load
controller modules cheaply; `pdip.api.app` turns them into routes.

Where a method's arguments come from is read from its signature (see `pdip.api.routing`);
`FromRoute`, `FromQuery` and `FromBody` say it explicitly when the convention does not fit:

    def get(self, account_id: Annotated[str, FromRoute], verbose: Annotated[bool, FromQuery] = False): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

F = TypeVar("F", bound=Callable)


class ParameterSource:
    """Where a controller argument is read from; used as `Annotated[type, FromRoute]`."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"From{self.name.capitalize()}"


FromRoute = ParameterSource("route")
FromQuery = ParameterSource("query")
FromBody = ParameterSource("body")


class ControllerBase:
    """Base of API controllers; define `get`, `post`, `put`, `patch` or `delete`.

    Class attributes a controller may set:
        route: the path under the API's base URL instead of the one from the class name,
            e.g. "/operations/<name>/executions"; `<name>` placeholders are route parameters.
        anonymous: True to serve the controller without authentication (a health check).
        tenanted: False for actions that belong to no tenant (the integrator's endpoints): the
            tenant header is neither required nor applied.
        tags: the Swagger group(s); the controller's name (or namespace) when omitted.
    """

    route: ClassVar[str | None] = None
    anonymous: ClassVar[bool] = False
    tenanted: ClassVar[bool] = True
    tags: ClassVar[tuple[str, ...] | None] = None


def status(code: int) -> Callable[[F], F]:
    """The status an action answers with when it succeeds: `@status(201)` above `def post`.

    Swagger documents it, and a plain return value is sent with it; returning
    `(value, status)` still chooses per call."""
    if not 200 <= code <= 299:
        raise ValueError(f"status: expected a success status (200-299), got {code}")

    def mark(function: F) -> F:
        function.__pdip_status__ = code
        return function

    return mark


def produces(*media_types: str) -> Callable[[F], F]:
    """The media types an action answers with instead of JSON, for the spec:
    `@produces("text/event-stream")` above an action returning a Flask `Response`."""
    _check_media_types("produces", media_types)

    def mark(function: F) -> F:
        function.__pdip_produces__ = tuple(media_types)
        return function

    return mark


def accepts(*media_types: str) -> Callable[[F], F]:
    """The media types an action's body may have besides JSON: `@accepts("text/csv")`.

    A body of such a type is passed as it came: `bytes` for a parameter annotated `bytes`,
    else text decoded as UTF-8. A body of any other type answers 415."""
    _check_media_types("accepts", media_types)

    def mark(function: F) -> F:
        function.__pdip_accepts__ = tuple(item.lower() for item in media_types)
        return function

    return mark


def _check_media_types(decorator: str, media_types: tuple) -> None:
    if not media_types or not all(isinstance(item, str) and "/" in item for item in media_types):
        raise ValueError(f"{decorator}: expected media types such as 'text/csv', got {media_types!r}")
