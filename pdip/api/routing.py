"""How a controller class becomes URLs: the naming rule, and where each argument comes from.

The naming rule: the class name minus `Controller`, case kept, under the base URL:
`AccountsController` -> `/api/Accounts`, `UserAccountsController` -> `/api/UserAccounts`.
With `API.NAMESPACES: true` the name of the package holding the controller's module goes in
between (a package named `api` or `controllers` is skipped, so `shop/sales/api/orders_controller.py`
gives `/api/sales/Orders`). A controller's `route` attribute replaces the derived path.

Each method named `get`, `post`, `put`, `patch` or `delete` is an action. Its parameters say
where their values come from:

| parameter | read from |
| --- | --- |
| `Annotated[T, FromRoute / FromQuery / FromBody]` | where it says |
| a name among the route's `<placeholders>` | the URL |
| `id` | the URL: the action is served at `<path>/<id>` (and at `<path>` too if `id` has a default) |
| `body` | the JSON body (converted when annotated with a DTO or type) |
| a dataclass / `@dtoclass` | the JSON body, or for `get` and `delete` the query string |
| anything else | the query string, converted from text (`?page=2` for `page: int = 1`) |

Everything here is plain Python, read once at start-up; `pdip.api.app` wires it into Flask.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

from pdip.api.base import ControllerBase, ParameterSource
from pdip.api.errors import RoutingError

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_QUERY_OBJECT_METHODS = ("get", "delete")  # methods whose DTO comes from the query string
_SKIPPED_PACKAGES = ("api", "controllers")
_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?(\w+)>")

ROUTE, QUERY, BODY, QUERY_OBJECT = "route", "query", "body", "query_object"


@dataclasses.dataclass(frozen=True)
class Argument:
    """One parameter of an action: its name, where it is read from, its type and default."""

    name: str
    source: str
    hint: Any
    required: bool
    default: Any = None


@dataclasses.dataclass
class Action:
    """One HTTP method of one controller at one URL."""

    controller: type
    method: str
    function: Callable
    url: str
    arguments: list[Argument]
    returns: Any = None

    @property
    def status(self) -> int:
        """The success status: `@status(...)`, else 204 for `-> None`, else 200."""
        declared = getattr(self.function, "__pdip_status__", None)
        if declared is not None:
            return declared
        return 204 if self.returns is type(None) else 200

    @property
    def accepts(self) -> tuple[str, ...]:
        """Media types the body may have besides JSON (`@accepts(...)`)."""
        return getattr(self.function, "__pdip_accepts__", ())

    @property
    def body(self) -> Argument | None:
        return next((argument for argument in self.arguments if argument.source == BODY), None)

    @property
    def label(self) -> str:
        return f"{self.controller.__module__}.{self.controller.__qualname__}.{self.method}"


def controller_name(cls: type) -> str:
    """`UserAccountsController` -> `UserAccounts`; a class not ending in `Controller` keeps its name."""
    name = cls.__name__
    if name.endswith("Controller") and name != "Controller":
        return name[: -len("Controller")]
    return name


def namespace_of(cls: type) -> str | None:
    """The package that holds the controller's module, skipping `api` and `controllers` packages."""
    parts = cls.__module__.split(".")[:-1]
    while parts and parts[-1] in _SKIPPED_PACKAGES:
        parts.pop()
    return parts[-1] if parts else None


def controller_path(cls: type, base_url: str = "/api", namespaces: bool = False) -> str:
    """The URL path a controller is served at, before any route parameters."""
    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    route = getattr(cls, "route", None)
    if route:
        return base + "/" + route.strip("/")
    namespace = namespace_of(cls) if namespaces else None
    middle = f"/{namespace}" if namespace else ""
    return f"{base}{middle}/{controller_name(cls)}"


def route_placeholders(path: str) -> list[str]:
    return _PLACEHOLDER.findall(path)


def actions_of(cls: type, base_url: str = "/api", namespaces: bool = False) -> list[Action]:
    """Every action of a controller class, one per method and URL; raises RoutingError on a
    signature it cannot serve, naming the controller and the method."""
    if not (isinstance(cls, type) and issubclass(cls, ControllerBase)):
        raise RoutingError(f"{cls!r} is not a ControllerBase subclass")
    path = controller_path(cls, base_url, namespaces)
    placeholders = route_placeholders(path)
    actions = []
    for method in HTTP_METHODS:
        function = getattr(cls, method, None)
        if function is None:
            continue
        if not callable(function):
            raise RoutingError(f"{cls.__module__}.{cls.__qualname__}.{method} is not a method")
        arguments, returns = _arguments(cls, method, function, placeholders)
        for url in _urls(path, arguments, placeholders):
            actions.append(Action(cls, method, function, url, arguments, returns))
    return actions


def _arguments(cls: type, method: str, function: Callable, placeholders: list[str]) -> tuple[list[Argument], Any]:
    label = f"{cls.__module__}.{cls.__qualname__}.{method}"
    try:
        hints = typing.get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
    except (NameError, TypeError, ValueError) as error:
        raise RoutingError(f"{label}: cannot read the method's signature ({error})") from None
    arguments = []
    for name, parameter in list(signature.parameters.items())[1:]:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise RoutingError(f"{label}: *{name} cannot be served; name each parameter the request fills")
        hint, source = _split(hints.get(name, Any))
        source = source or _source_by_convention(name, hint, method, placeholders)
        has_default = parameter.default is not inspect.Parameter.empty
        default = parameter.default if has_default else None
        arguments.append(Argument(name, source, hint, not has_default, default))
    bodies = [argument.name for argument in arguments if argument.source == BODY]
    if len(bodies) > 1:
        raise RoutingError(f"{label}: one parameter can take the body, not {len(bodies)} ({', '.join(bodies)})")
    return arguments, hints.get("return")


def _split(hint: Any) -> tuple[Any, str | None]:
    """`Annotated[int, FromRoute]` -> (int, "route"); a plain hint has no explicit source."""
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, ParameterSource):
                source = extra.name
                if source == QUERY and _is_dataclass(base):
                    source = QUERY_OBJECT
                return base, source
        return base, None
    return hint, None


def _source_by_convention(name: str, hint: Any, method: str, placeholders: list[str]) -> str:
    if name in placeholders or name == "id":
        return ROUTE
    if name == "body":
        return BODY
    if _is_dataclass(hint):
        return QUERY_OBJECT if method in _QUERY_OBJECT_METHODS else BODY
    return QUERY


def _is_dataclass(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _urls(path: str, arguments: list[Argument], placeholders: list[str]) -> list[str]:
    """The action's URL, plus shorter ones when trailing route parameters have defaults."""
    appended = [argument for argument in arguments if argument.source == ROUTE and argument.name not in placeholders]
    urls = [path + "".join(f"/<{argument.name}>" for argument in appended)]
    while appended and not appended[-1].required:
        appended.pop()
        urls.append(path + "".join(f"/<{argument.name}>" for argument in appended))
    return urls
