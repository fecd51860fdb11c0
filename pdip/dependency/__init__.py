"""Dependency injection: lifetimes by marker class, discovery under the root, a compiled container."""

from pdip.dependency.container import Container
from pdip.dependency.errors import (
    DependencyCycleError,
    DiscoveryError,
    MissingBindingError,
    PdiConfigurationError,
    ScopeNotOpenError,
)
from pdip.dependency.scopes import IScoped, ISingleton, Lifetime

__all__ = [
    "Container",
    "DependencyCycleError",
    "DiscoveryError",
    "IScoped",
    "ISingleton",
    "Lifetime",
    "MissingBindingError",
    "PdiConfigurationError",
    "ScopeNotOpenError",
]
