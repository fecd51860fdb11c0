"""The pipeline's extension points: what a behaviour implements, and the unit-of-work seam.

A behaviour's `handle(request, next)` calls `next()` to run the rest of the pipeline (and in the
end the handler) and returns its result, or raises. Behaviours are discovered like services and
run in ascending `order`: the lowest is the outermost.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pdip.configuration import BaseConfig

Next = Callable[[], Any]


class CqrsConfig(BaseConfig):
    """The `CQRS` section: which built-in behaviours wrap each dispatch, and what the logging
    behaviour writes: a line at `LOG_LEVEL` naming the request, its duration and outcome, with
    the request's field values (through the application's field policy) only if `LOG_FIELDS`."""

    logging: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "DEBUG"
    log_fields: bool = False
    validation: bool = True
    unit_of_work: bool = True


class IPipelineBehavior(abc.ABC):
    """Wraps each dispatch. Override `handle_async` too if you look at the result under asyncio."""

    order: int = 0

    @abc.abstractmethod
    def handle(self, request: Any, next: Next) -> Any: ...

    def applies_to(self, request_type: type) -> bool:
        """Whether this behaviour wraps requests of `request_type`. The dispatcher asks once per
        type (again after the container's registrations change), so a behaviour that has nothing
        to do for a type costs that type's dispatches nothing."""
        return True

    async def handle_async(self, request: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        result = self.handle(request, next)
        return await result if inspect.isawaitable(result) else result


class IUnitOfWork(abc.ABC):
    """The seam the data layer fills: what a command's changes are committed or rolled back with."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...
