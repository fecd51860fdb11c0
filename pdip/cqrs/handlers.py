"""Handler bases. A handler names what it handles in its base: `ICommandHandler[CreateAccount]`.

`handle` may be `async def`; such handlers are dispatched with `dispatch_async`.
"""

from __future__ import annotations

import abc
import typing
from typing import Any, Generic, TypeVar, get_args, get_origin

from pdip.cqrs.messages import ICommand, INotification, IQuery

TCommand = TypeVar("TCommand", bound=ICommand)
TQuery = TypeVar("TQuery", bound=IQuery)
TNotification = TypeVar("TNotification", bound=INotification)


class ICommandHandler(Generic[TCommand], abc.ABC):
    @abc.abstractmethod
    def handle(self, command: TCommand) -> Any: ...


class IQueryHandler(Generic[TQuery], abc.ABC):
    @abc.abstractmethod
    def handle(self, query: TQuery) -> Any: ...


class INotificationHandler(Generic[TNotification], abc.ABC):
    @abc.abstractmethod
    def handle(self, notification: TNotification) -> Any: ...


HANDLER_BASES: tuple[type, ...] = (ICommandHandler, IQueryHandler, INotificationHandler)


def handled_type(handler: type) -> tuple[type, type] | None:
    """(handler base, message type) that `handler` declares, in whatever order its bases come.

    Read from the parametrised base (`ICommandHandler[CreateAccount]`) anywhere in the class's
    ancestry, else from the type hint of `handle`'s parameter."""
    for cls in handler.__mro__:
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if origin in HANDLER_BASES:
                (argument,) = get_args(base)
                if isinstance(argument, type):
                    return origin, argument
    base = next((b for b in HANDLER_BASES if issubclass(handler, b)), None)
    if base is None:
        return None
    try:
        hints = typing.get_type_hints(handler.handle)
    except (NameError, TypeError):
        return None
    argument = next((hint for name, hint in hints.items() if name != "return"), None)
    return (base, argument) if isinstance(argument, type) else None
