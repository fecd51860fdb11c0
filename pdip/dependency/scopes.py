"""Lifetimes a service declares by inheriting a marker class.

A class that inherits `ISingleton` (at any depth) is created once per `Pdi`; one that inherits
`IScoped` is created once per `pdi.scope()`; any other class is created anew on every resolution.
The markers carry no behaviour, so user code depends on pdip only as far as it chooses to.
"""

from __future__ import annotations

import enum


class ISingleton:
    """Marker: one instance per `Pdi` (per container)."""

    __slots__ = ()


class IScoped:
    """Marker: one instance per open `pdi.scope()`; resolving it with no scope open is an error."""

    __slots__ = ()


class Lifetime(enum.Enum):
    TRANSIENT = "transient"
    SCOPED = "scoped"
    SINGLETON = "singleton"


def lifetime_of(cls: type) -> Lifetime:
    """The lifetime a class declares through its markers; transient when it declares none."""
    singleton = issubclass(cls, ISingleton)
    scoped = issubclass(cls, IScoped)
    if singleton and scoped:
        from pdip.dependency.errors import PdiConfigurationError

        raise PdiConfigurationError(
            f"{cls.__qualname__} inherits both ISingleton and IScoped; a service has one lifetime"
        )
    if singleton:
        return Lifetime.SINGLETON
    if scoped:
        return Lifetime.SCOPED
    return Lifetime.TRANSIENT
