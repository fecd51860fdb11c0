"""`Dispatcher`: sends a command or query to its one handler through the pipeline, and a
notification to all of its handlers.

Each dispatch runs in a DI scope (so IScoped services, a unit of work say, live exactly as long
as the request) unless a scope is already open, as it is during an API request. Commands and
queries raise their handler's errors to the caller; a failing notification handler is logged and
the others still run.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable
from contextlib import AbstractContextManager, nullcontext
from types import CoroutineType
from typing import Any, TypeVar

from pdip.cqrs.behaviours import BUILT_IN_BEHAVIOURS
from pdip.cqrs.pipeline import CqrsConfig
from pdip.cqrs.registry import HandlerRegistry
from pdip.dependency import Container, ISingleton
from pdip.logging.loggers.console import ConsoleLogger

T = TypeVar("T")


@dataclasses.dataclass
class PublishResult:
    """What `publish` did: the handlers that ran and those that raised (with their errors)."""

    handled: list[str] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, BaseException]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


class Dispatcher(ISingleton):
    """Resolve it anywhere: `pdi.get(Dispatcher).dispatch(CreateAccountCommand(...))`."""

    def __init__(self, container: Container, registry: HandlerRegistry, config: CqrsConfig):
        self.container = container
        self.registry = registry
        self.config = config
        self._handlers = registry.requests
        self._behaviours = _behaviour_types(registry, config)
        self._routes: dict[type, tuple[type, ...]] = {}  # request type -> the behaviours that apply
        self._revision = container.revision
        self._logger: ConsoleLogger | None = None

    # -- commands and queries ----------------------------------------------------------------------

    def dispatch(self, request: Any) -> Any:
        """Run `request` through the pipeline to its handler and return the handler's result."""
        handler_type = self._handlers.get(type(request)) or self.registry.handler_for(type(request))
        container = self.container
        scope = None if container.in_scope else container.open_scope()
        try:
            handler = container.get(handler_type)
            behaviours = self._route(type(request))
            if not behaviours:
                return _sync_result(handler, handler.handle(request))
            return self._through_pipeline(request, handler, behaviours)
        finally:
            if scope is not None:
                container.close_scope(scope)

    async def dispatch_async(self, request: Any) -> Any:
        """`dispatch` for asyncio: awaits `async def handle`, and runs plain handlers too."""
        handler_type = self._handlers.get(type(request)) or self.registry.handler_for(type(request))
        container = self.container
        scope = None if container.in_scope else container.open_scope()
        try:
            handler = container.get(handler_type)
            behaviours = [container.get(cls) for cls in self._route(type(request))]

            async def step(index: int) -> Any:
                if index == len(behaviours):
                    return await _awaited(handler.handle(request))
                return await behaviours[index].handle_async(request, lambda: step(index + 1))

            return await step(0)
        finally:
            if scope is not None:
                container.close_scope(scope)

    def _route(self, request_type: type) -> tuple[type, ...]:
        """The behaviours that wrap `request_type`, asked once per type (`applies_to`) and asked
        again when the container's registrations change (a unit of work bound, say)."""
        if self._revision != self.container.revision:
            self._routes.clear()
            self._revision = self.container.revision
        route = self._routes.get(request_type)
        if route is None:
            get = self.container.get
            route = tuple(cls for cls in self._behaviours if get(cls).applies_to(request_type))
            self._routes[request_type] = route
        return route

    def _through_pipeline(self, request: Any, handler: Any, route: tuple[type, ...]) -> Any:
        behaviours = [self.container.get(cls) for cls in route]

        def step(index: int) -> Any:
            if index == len(behaviours):
                return _sync_result(handler, handler.handle(request))
            return behaviours[index].handle(request, lambda: step(index + 1))

        return step(0)

    # -- notifications -----------------------------------------------------------------------------

    def publish(self, notification: Any) -> PublishResult:
        """Deliver `notification` to every handler of its type (and of its base types), in order."""
        result = PublishResult()
        with self._scope():
            for handler_type in self.registry.notification_handlers(type(notification)):
                name = handler_type.__qualname__
                try:
                    handler = self.container.get(handler_type)
                    _sync_result(handler, handler.handle(notification))
                except Exception as error:  # noqa: BLE001 - one failing handler must not stop the rest
                    self._handler_failed(notification, name, error, result)
                else:
                    result.handled.append(name)
        return result

    async def publish_async(self, notification: Any) -> PublishResult:
        """`publish` for asyncio; handlers run one after another, in registration order."""
        result = PublishResult()
        with self._scope():
            for handler_type in self.registry.notification_handlers(type(notification)):
                name = handler_type.__qualname__
                try:
                    handler = self.container.get(handler_type)
                    await _awaited(handler.handle(notification))
                except Exception as error:  # noqa: BLE001 - one failing handler must not stop the rest
                    self._handler_failed(notification, name, error, result)
                else:
                    result.handled.append(name)
        return result

    def _handler_failed(self, notification: Any, name: str, error: Exception, result: PublishResult) -> None:
        result.failed.append((name, error))
        if self._logger is None:
            self._logger = self.container.get(ConsoleLogger)
        self._logger.error(
            "notification handler %s failed on %s: %s: %s",
            name,
            type(notification).__qualname__,
            type(error).__name__,
            error,
        )

    def _scope(self) -> AbstractContextManager:
        return nullcontext() if self.container.in_scope else self.container.scope()


def _behaviour_types(registry: HandlerRegistry, config: CqrsConfig) -> tuple[type, ...]:
    """Built-in behaviours switched on in the configuration plus the application's, by `order`."""
    enabled = [cls for name, cls in BUILT_IN_BEHAVIOURS.items() if getattr(config, name)]
    chosen = enabled + [cls for cls in registry.behaviours if cls not in BUILT_IN_BEHAVIOURS.values()]
    return tuple(sorted(chosen, key=lambda cls: getattr(cls, "order", 0)))


def _sync_result(handler: Any, result: Any) -> Any:
    if type(result) is CoroutineType:  # what inspect.iscoroutine asks, without its call: a hot path
        result.close()
        raise TypeError(f"{type(handler).__qualname__}.handle is async; use `await dispatcher.dispatch_async(...)`")
    return result


async def _awaited(result: Any | Awaitable[Any]) -> Any:
    return await result if inspect.isawaitable(result) else result
