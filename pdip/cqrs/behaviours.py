"""pdip's own pipeline behaviours: logging (order -300), validation (-200) and the unit of work
(-100). Each runs outside the application's behaviours (order 0 by default) and can be switched
off in the `CQRS` section of application.yml.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pdip.conversion import check, to_plain
from pdip.cqrs.errors import ValidationError
from pdip.cqrs.messages import ICommand
from pdip.cqrs.pipeline import CqrsConfig, IPipelineBehavior, IUnitOfWork, Next
from pdip.dependency import Container, ISingleton, MissingBindingError
from pdip.logging.loggers.console import ConsoleLogger


class LoggingBehavior(IPipelineBehavior, ISingleton):
    """One line per dispatch at `CQRS.LOG_LEVEL` (DEBUG unless set): request name, duration and
    outcome, and with `CQRS.LOG_FIELDS` the request's fields as the application's policy lets
    them out. Whether the logger writes that level is asked when a request type is first
    dispatched (see `applies_to`): below it, the behaviour is not in the type's pipeline at all."""

    order = -300

    def __init__(self, logger: ConsoleLogger, config: CqrsConfig, container: Container):
        self.logger = logger
        self.level = logging.getLevelName(config.log_level)
        self.fields = config.log_fields
        self.container = container
        self._write = getattr(logger, config.log_level.lower())
        self._policy = None

    def applies_to(self, request_type: type) -> bool:
        """Only while the logger writes the level: below it, dispatches skip this behaviour."""
        return self.logger.logger.isEnabledFor(self.level)

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
        self._line(request, started, "handled %s", type(request).__qualname__)

    def _failed(self, request: Any, started: float, error: Exception) -> None:
        self._line(request, started, "%s failed: %s", type(request).__qualname__, type(error).__name__)

    def _line(self, request: Any, started: float, message: str, *args: Any) -> None:
        extra: dict[str, Any] = {"duration_ms": _since(started)}
        if self.fields and dataclasses.is_dataclass(request):
            extra["fields"] = self._allowed(to_plain(request)) or {}  # {}: a drop_record rule held
        self._write(message, *args, **extra)

    def _allowed(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        """The request's fields after the application's policy (built-in secret rules first)."""
        if self._policy is None:
            from pdip.policy import Policy

            self._policy = self.container.get(Policy)
        return self._policy.apply(fields, f"log:{self.logger.logger.name}")


class ValidationBehavior(IPipelineBehavior, ISingleton):
    """Checks a dataclass request's field types, then calls its `validate()` if it has one.

    `validate()` may raise ValidationError, or return messages (a list of strings) to reject."""

    order = -200

    def applies_to(self, request_type: type) -> bool:
        return dataclasses.is_dataclass(request_type) or callable(getattr(request_type, "validate", None))

    def handle(self, request: Any, next: Next) -> Any:
        validate(request)
        return next()

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        validate(request)
        return await next()


class UnitOfWorkBehavior(IPipelineBehavior, ISingleton):
    """Commits a command's unit of work when its handler returns, rolls it back when it raises.

    It wraps commands only, and only while an `IUnitOfWork` is bound (`applies_to`)."""

    order = -100

    def __init__(self, container: Container):
        self.container = container

    def applies_to(self, request_type: type) -> bool:
        """Commands, while a unit of work is bound."""
        if not issubclass(request_type, ICommand):
            return False
        try:
            self.container.plan(IUnitOfWork)
        except MissingBindingError:
            return False
        return True

    def handle(self, request: Any, next: Next) -> Any:
        work = self.container.get(IUnitOfWork)
        try:
            result = next()
        except BaseException:
            work.rollback()
            raise
        work.commit()
        return result

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        work = self.container.get(IUnitOfWork)
        try:
            result = await next()
        except BaseException:
            work.rollback()
            raise
        work.commit()
        return result


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


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
