"""CQRS: commands, queries and notifications sent through one `Dispatcher` to handlers found by
convention, wrapped by pipeline behaviours.

The dispatcher and the built-in behaviours (which bring logging) are imported on first use, so
`Pdi()`, which needs only the handler bases to discover handlers, does not pay for them.
"""

import importlib
from typing import Any

from pdip.cqrs.errors import DuplicateHandlerError, HandlerNotFoundError, ValidationError
from pdip.cqrs.handlers import ICommandHandler, INotificationHandler, IQueryHandler
from pdip.cqrs.messages import ICommand, INotification, IQuery
from pdip.cqrs.pipeline import CqrsConfig, IPipelineBehavior, IUnitOfWork
from pdip.cqrs.registry import HandlerRegistry

__all__ = [
    "CqrsConfig",
    "Dispatcher",
    "DuplicateHandlerError",
    "HandlerNotFoundError",
    "HandlerRegistry",
    "ICommand",
    "ICommandHandler",
    "INotification",
    "INotificationHandler",
    "IPipelineBehavior",
    "IQuery",
    "IQueryHandler",
    "IUnitOfWork",
    "LoggingBehavior",
    "PublishResult",
    "UnitOfWorkBehavior",
    "ValidationBehavior",
    "ValidationError",
]

_LAZY = {
    "Dispatcher": "pdip.cqrs.dispatcher",
    "PublishResult": "pdip.cqrs.dispatcher",
    "LoggingBehavior": "pdip.cqrs.behaviours",
    "UnitOfWorkBehavior": "pdip.cqrs.behaviours",
    "ValidationBehavior": "pdip.cqrs.behaviours",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pdip.cqrs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
