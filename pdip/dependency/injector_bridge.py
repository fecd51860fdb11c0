"""The `injector.Injector` a container hands to injector modules, made only when one is needed.

Importing injector costs about 15 ms, so a container creates its injector on first use: when
`Pdi(modules=[...])` installs modules, or when someone asks for `injector.Injector`. Its `get`
falls back to the container, so a module's `@provider` can ask for any pdip service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import injector

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.dependency.container import Container


class BridgedInjector(injector.Injector):
    def __init__(self, container: Container, modules: list[injector.Module]):
        self._container = container
        super().__init__(modules, auto_bind=False)

    def get(self, interface: Any, scope: Any = None) -> Any:
        if self.binder.has_explicit_binding_for(interface) or (
            isinstance(interface, type) and issubclass(interface, injector.Scope)
        ):
            return super().get(interface, scope)
        return self._container.get(interface)
