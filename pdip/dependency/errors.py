"""Errors raised while wiring services together."""

from __future__ import annotations

from collections.abc import Sequence


class PdiConfigurationError(Exception):
    """The application cannot be wired: raised by `Pdi()` before anything runs.

    `problems` holds one line per problem found, so a start-up with several mistakes reports
    all of them at once instead of one per run.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()):
        self.problems = list(problems) or [message]
        super().__init__(message)


class MissingBindingError(PdiConfigurationError):
    """A dependency has nothing that can provide it; the message names the chain that needs it."""

    def __init__(self, chain: Sequence[str], reason: str):
        self.chain = list(chain)
        self.reason = reason
        text = " -> ".join(self.chain)
        super().__init__(f"{text}: {reason}" if text else reason)


class DependencyCycleError(MissingBindingError):
    """Services that need each other, directly or through others."""


class ScopeNotOpenError(RuntimeError):
    """An `IScoped` service was asked for with no `pdi.scope()` open."""

    def __init__(self, service: str):
        super().__init__(
            f"{service} is IScoped: resolve it inside `with pdi.scope():` "
            "(a dispatch or an API request opens one for you)"
        )


class DiscoveryError(PdiConfigurationError):
    """A module under the application's root could not be imported during discovery."""
