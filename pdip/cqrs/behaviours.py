"""pdip's own pipeline behaviours: logging (order -300), validation (-200) and the unit of work
(-100). Each runs outside the application's behaviours (order 0 by default) and can be switched
off in the `CQRS` section of application.yml.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pdip.conversion import check, to_plain
from pdip.cqrs.errors import ValidationError
from pdip.cqrs.messages import ICommand
from pdip.cqrs.pipeline import IPipelineBehavior, IUnitOfWork, Next
from pdip.dependency import Container, ISingleton, MissingBindingError
from pdip.logging.loggers.console import ConsoleLogger


class LoggingBehavior(IPipelineBehavior, ISingleton):
    """One line per dispatch: request name, fields (secrets masked), duration and outcome."""

    order = -300

    def __init__(self, logger: ConsoleLogger):
        self.logger = logger

    def handle(self, request: Any, next: Next) -> Any:
        started = time.perf_counter()
        try:
            result = next()
        except Exception as error:
            self._failed(request, started, error)
            raise
        self._handled(request, started)
        return result

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        try:
            result = await next()
        except Exception as error:
            self._failed(request, started, error)
            raise
        self._handled(request, started)
        return result

    def _handled(self, request: Any, started: float) -> None:
        self.logger.info("handled %s", type(request).__qualname__, duration_ms=_since(started), fields=_fields(request))

    def _failed(self, request: Any, started: float, error: Exception) -> None:
        self.logger.error(
            "%s failed: %s",
            type(request).__qualname__,
            type(error).__name__,
            duration_ms=_since(started),
            fields=_fields(request),
        )


class ValidationBehavior(IPipelineBehavior, ISingleton):
    """Checks a dataclass request's field types, then calls its `validate()` if it has one.

    `validate()` may raise ValidationError, or return messages (a list of strings) to reject."""

    order = -200

    def handle(self, request: Any, next: Next) -> Any:
        validate(request)
        return next()

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        validate(request)
        return await next()


class UnitOfWorkBehavior(IPipelineBehavior, ISingleton):
    """Commits a command's unit of work when its handler returns, rolls it back when it raises.

    Queries pass straight through, and so does everything while no `IUnitOfWork` is bound."""

    order = -100

    def __init__(self, container: Container):
        self.container = container

    def handle(self, request: Any, next: Next) -> Any:
        work = self._unit_of_work(request)
        if work is None:
            return next()
        try:
            result = next()
        except BaseException:
            work.rollback()
            raise
        work.commit()
        return result

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        work = self._unit_of_work(request)
        if work is None:
            return await next()
        try:
            result = await next()
        except BaseException:
            work.rollback()
            raise
        work.commit()
        return result

    def _unit_of_work(self, request: Any) -> IUnitOfWork | None:
        if not isinstance(request, ICommand):
            return None
        try:
            return self.container.get(IUnitOfWork)
        except MissingBindingError:  # the container remembers the miss until registrations change
            return None


BUILT_IN_BEHAVIOURS = {
    "logging": LoggingBehavior,
    "validation": ValidationBehavior,
    "unit_of_work": UnitOfWorkBehavior,
}


def validate(request: Any) -> None:
    """Raise ValidationError if a dataclass request's fields do not hold their declared types, or
    if its `validate()` method rejects it (by raising, or by returning messages)."""
    subject = type(request).__qualname__
    if dataclasses.is_dataclass(request):
        problems = check(request, type(request))
        if problems:
            raise ValidationError(subject, problems)
    rule = getattr(request, "validate", None)
    if callable(rule):
        messages = rule()
        if messages:
            raise ValidationError(subject, [messages] if isinstance(messages, str) else list(messages))


def _fields(request: Any) -> Any:
    return to_plain(request) if dataclasses.is_dataclass(request) else None


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
