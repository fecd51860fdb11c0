"""The three kinds of message: commands change state, queries read it, notifications tell."""

from __future__ import annotations

from typing import Generic, TypeVar

TResult = TypeVar("TResult")


class ICommand:
    """A request to change something; exactly one handler; its errors reach the caller."""

    __slots__ = ()


class IQuery(Generic[TResult]):
    """A request to read something; exactly one handler, whose result is a `TResult`."""

    __slots__ = ()


class INotification:
    """Something that happened; any number of handlers, and one failing does not stop the rest."""

    __slots__ = ()
