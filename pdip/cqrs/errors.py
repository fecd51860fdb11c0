"""Errors of the CQRS area, each naming the request class involved."""

from __future__ import annotations

from collections.abc import Sequence

from pdip.conversion import Problem
from pdip.dependency.errors import PdiConfigurationError


class HandlerNotFoundError(LookupError):
    """A request was dispatched and no handler for its type exists."""

    def __init__(self, request_type: type, searched: Sequence[str]):
        self.request_type = request_type
        self.searched = list(searched)
        places = ", ".join(self.searched)
        super().__init__(
            f"no handler for {request_type.__qualname__}; looked in {places}. "
            f"Write a class inheriting ICommandHandler[{request_type.__qualname__}] "
            f"(or IQueryHandler[...]) next to the request"
        )


class DuplicateHandlerError(PdiConfigurationError):
    """Two handlers claim the same command or query; raised when the application starts."""

    def __init__(self, request_type: type, handlers: Sequence[type]):
        names = " and ".join(f"{h.__module__}.{h.__qualname__}" for h in handlers)
        super().__init__(f"{request_type.__qualname__} has two handlers: {names}; keep one")


class ValidationError(ValueError):
    """A request or DTO is invalid; `problems` holds one entry per bad field, with its path."""

    def __init__(self, subject: str, problems: Sequence[Problem | str]):
        self.subject = subject
        self.problems = [p if isinstance(p, Problem) else Problem("", "", reason=str(p)) for p in problems]
        listed = "; ".join(problem.describe() for problem in self.problems)
        super().__init__(f"{subject} is invalid: {listed}")

    def errors(self) -> list[dict[str, str]]:
        """The problems as data: `[{"field": "lines[1].price", "message": "expected Decimal, got 'x'"}]`."""
        return [{"field": problem.path, "message": problem.detail()} for problem in self.problems]
