"""Which handler handles which message: a dictionary built when the application starts.

Dispatch looks the request's type up in a dictionary, so it costs the same with one handler or a
thousand. A type nobody registered (its handler was defined after `Pdi()` started, say) is
searched for once and remembered: among the loaded handler classes that belong to this
application (defined under its root or in the running script) or sit by convention next to the
message (in its module, `<module>_handler` or `<Module>Handler`). Handlers of other applications
in the same process are never picked up.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from pdip.cqrs.errors import DuplicateHandlerError, HandlerNotFoundError
from pdip.cqrs.handlers import HANDLER_BASES, INotificationHandler, handled_type
from pdip.cqrs.pipeline import IPipelineBehavior

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class HandlerRegistry:
    """Request type -> its handler class; notification type -> its handler classes; and the
    application's pipeline behaviours."""

    def __init__(self, classes: Iterable[type] = (), root: str | Path | None = None):
        self.root = Path(root).resolve() if root else None
        self._requests: dict[type, type] = {}
        self._notifications: dict[type, list[type]] = {}
        self._resolved_notifications: dict[type, tuple[type, ...]] = {}
        self.behaviours: list[type] = []
        self._lock = threading.Lock()
        for cls in classes:
            self.add(cls)

    @property
    def requests(self) -> dict[type, type]:
        """The request-type -> handler-class map dispatch reads (a live view, not a copy)."""
        return self._requests

    def add(self, handler: type) -> None:
        """Register a handler or behaviour class; a second handler for one command or query is an
        error, other classes are ignored."""
        if inspect.isabstract(handler):
            return
        if issubclass(handler, IPipelineBehavior):
            if handler not in self.behaviours:
                self.behaviours.append(handler)
            return
        declared = handled_type(handler)
        if declared is None:
            return
        base, message = declared
        if base is INotificationHandler:
            handlers = self._notifications.setdefault(message, [])
            if handler not in handlers:
                handlers.append(handler)
                self._resolved_notifications.clear()
            return
        existing = self._requests.get(message)
        if existing is not None and existing is not handler:
            raise DuplicateHandlerError(message, [existing, handler])
        self._requests[message] = handler

    def handler_for(self, request_type: type) -> type:
        """The handler class for `request_type`; searches by convention once if it is unknown."""
        handler = self._requests.get(request_type)
        if handler is None:
            with self._lock:
                handler = self._requests.get(request_type) or self._search(request_type)
        return handler

    def notification_handlers(self, notification_type: type) -> tuple[type, ...]:
        """Handlers of the type and of its bases (a handler of `OrderEvent` hears `OrderShipped`)."""
        handlers = self._resolved_notifications.get(notification_type)
        if handlers is None:
            for cls in notification_type.__mro__:
                self._adopt_loaded_handlers(cls)
            found: list[type] = []
            for cls in notification_type.__mro__:
                found.extend(h for h in self._notifications.get(cls, []) if h not in found)
            handlers = self._resolved_notifications[notification_type] = tuple(found)
        return handlers

    def _search(self, request_type: type) -> type:
        candidates = _sibling_modules(request_type.__module__)
        for name in candidates:
            _import_if_present(name)
        self._adopt_loaded_handlers(request_type)
        handler = self._requests.get(request_type)
        if handler is None:
            where = f"the application's packages under {self.root}" if self.root else "the loaded modules"
            raise HandlerNotFoundError(request_type, [request_type.__module__, *candidates, where])
        return handler

    def _adopt_loaded_handlers(self, message_type: type) -> None:
        """Register the loaded handlers of `message_type` that belong to this application."""
        neighbours = {message_type.__module__, *_sibling_modules(message_type.__module__)}
        for handler in _loaded_handlers():
            declared = handled_type(handler)
            if declared is not None and declared[1] is message_type and self._belongs(handler, neighbours):
                self.add(handler)

    def _belongs(self, handler: type, neighbours: set[str]) -> bool:
        module = handler.__module__
        if module in neighbours or module == "__main__":
            return True
        file = getattr(sys.modules.get(module), "__file__", None)
        return bool(self.root and file) and Path(file).resolve().is_relative_to(self.root)


def _loaded_handlers() -> list[type]:
    """Every loaded subclass of the handler bases, in the order the classes were created."""
    found, pending, seen = [], deque(HANDLER_BASES), set()
    while pending:
        for subclass in pending.popleft().__subclasses__():
            if subclass not in seen:
                seen.add(subclass)
                pending.append(subclass)
                found.append(subclass)
    return found


def _sibling_modules(module: str) -> list[str]:
    """`app.accounts.create_account` -> `..create_account_handler` and `..CreateAccountHandler`."""
    package, _, name = module.rpartition(".")
    prefix = f"{package}." if package else ""
    snake = _CAMEL.sub("_", name).lower()
    camel = "".join(part.capitalize() for part in snake.split("_"))
    return list(dict.fromkeys([f"{prefix}{snake}_handler", f"{prefix}{camel}Handler"]))


def _import_if_present(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not module.startswith(error.name):
            raise
