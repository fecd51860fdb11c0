"""`UnitOfWork`: commit on success, roll back on an exception, always close.

    with unit_of_work:                 # nested blocks join the outermost one
        repository.insert(...)

`@transactionhandler` does the same around a method of an object that holds a `UnitOfWork`
(or a `RepositoryProvider`). The CQRS unit-of-work behaviour uses it for every command.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from pdip.cqrs.pipeline import IUnitOfWork
from pdip.data.provider import RepositoryProvider
from pdip.dependency import IScoped

F = TypeVar("F", bound=Callable[..., Any])


class UnitOfWork(IScoped, IUnitOfWork):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def __enter__(self) -> UnitOfWork:
        self.provider.begin()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.provider.end(failed=exc_type is not None)

    @property
    def active(self) -> bool:
        return self.provider.in_transaction

    def commit(self) -> None:
        self.provider.commit()

    def rollback(self) -> None:
        self.provider.rollback()


def transactionhandler(method: F) -> F:
    """Run `method` in the unit of work of the object it belongs to (joining one already open)."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any) -> Any:
        with UnitOfWork(_provider_of(self, method)):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _provider_of(owner: Any, method: Callable) -> RepositoryProvider:
    for value in vars(owner).values():
        if isinstance(value, UnitOfWork):
            return value.provider
        if isinstance(value, RepositoryProvider):
            return value
    raise TypeError(
        f"@transactionhandler on {type(owner).__qualname__}.{method.__name__} needs the object to hold "
        "a UnitOfWork or a RepositoryProvider (inject one in its constructor)"
    )
