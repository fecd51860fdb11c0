"""The `injector.Injector` a container hands to injector modules, made only when one is needed.

Importing injector costs about 15 ms, so a container creates its injector on first use: when
`Pdi(modules=[...])` installs modules, or when someone asks for `injector.Injector`. Its `get`
falls back to the container, so a module's `@provider` can ask for any pdip service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import injector


class BridgedInjector(injector.Injector):
    """`fallback` is the container's `get`: taking the function, not the container, keeps this
    module below `pdip.dependency.container`, which imports it."""

    def __init__(self, fallback: Callable[[Any], Any], modules: list[injector.Module]):
        self._fallback = fallback
        super().__init__(modules, auto_bind=False)

    def get(self, interface: Any, scope: Any = None) -> Any:
        if self.binder.has_explicit_binding_for(interface) or (
            isinstance(interface, type) and issubclass(interface, injector.Scope)
        ):
            return super().get(interface, scope)
        return self._fallback(interface)
