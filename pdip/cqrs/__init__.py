"""CQRS: commands, queries and notifications sent through one `Dispatcher` to handlers found by
convention, wrapped by pipeline behaviours."""

from pdip.cqrs.behaviours import LoggingBehavior, UnitOfWorkBehavior, ValidationBehavior
from pdip.cqrs.dispatcher import Dispatcher, PublishResult
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
