"""The container: registrations compiled into plain factories the first time they are needed.

`injector` supplies the vocabulary users write (`@inject`, `Inject`, `NoInject`, modules with
`@provider`); resolving through it costs several microseconds per object because it re-reads type
hints on every call. The container reads each constructor once, compiles a closure that calls it
with its dependencies' closures, and keeps singletons in a dictionary, so `get` of a singleton is a
dictionary hit and a transient graph costs little more than writing the constructors out by hand.
Keys it has no plan for (injector modules' providers, `ProviderOf[...]`) are passed to injector.
See docs/adr/0002-container-compiles-plans-over-injector.md.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pdip.dependency.errors import (
    DependencyCycleError,
    MissingBindingError,
    PdiConfigurationError,
    ScopeNotOpenError,
)
from pdip.dependency.planning import (
    Parameter,
    constructor_parameters,
    is_abstract,
    is_primitive,
    type_name,
)
from pdip.dependency.scopes import Lifetime, lifetime_of

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import injector

T = TypeVar("T")
Plan = Callable[[], Any]
Resolver = Callable[[Any], "Registration | None"]

_MISSING = object()


@dataclass
class Registration:
    """What the container knows about one key: how to make it, and how long it lives."""

    key: Any
    lifetime: Lifetime = Lifetime.TRANSIENT
    implementation: type | None = None
    instance: Any = _MISSING
    factory: Callable[[], Any] | None = None
    alias_of: Any = None


class _Scope:
    """The IScoped instances of one open scope; `created` keeps their order for release."""

    __slots__ = ("created", "instances", "token")

    def __init__(self):
        self.instances: dict = {}
        self.created: list = []
        self.token: contextvars.Token | None = None


class Container:
    """Registrations, compiled plans and the instances they made, for one application."""

    def __init__(self, modules: Iterable[injector.Module] = ()):
        self._modules = list(modules)
        self._injector: injector.Injector | None = None
        self._registrations: dict[Any, Registration] = {}
        self._implementations: dict[type, list[type]] = {}
        self._resolvers: list[Resolver] = []
        self._plans: dict[Any, Plan] = {}
        self._missing: dict[Any, MissingBindingError] = {}
        self._instances: dict[Any, Any] = {}
        self._created: list[Any] = []
        self._dependencies: dict[Any, set] = {}
        self._lock = threading.RLock()
        self._scope = contextvars.ContextVar(f"pdip-scope-{id(self)}", default=None)
        self._closed = False
        self.revision = 0  # goes up whenever registrations change: caches of what plans resolve compare it
        if self._modules:
            self.injector  # noqa: B018 - install the modules now, so their errors show at start

    @property
    def injector(self) -> injector.Injector:
        """An injector sharing this container's services, for code written against injector."""
        if self._injector is None:
            from pdip.dependency.injector_bridge import BridgedInjector

            self._injector = BridgedInjector(self.get, self._modules)
        return self._injector

    # -- registering ---------------------------------------------------------------------------

    def register(self, key: Any, implementation: type | None = None, lifetime: Lifetime | None = None) -> None:
        implementation = implementation or key
        lifetime = lifetime or lifetime_of(implementation)
        self._set(Registration(key, lifetime, implementation=implementation))

    def register_instance(self, key: Any, instance: Any) -> None:
        self._set(Registration(key, Lifetime.SINGLETON, instance=instance))

    def register_factory(self, key: Any, factory: Callable[[], Any], lifetime: Lifetime = Lifetime.TRANSIENT) -> None:
        self._set(Registration(key, lifetime, factory=factory))

    def add_resolver(self, resolver: Resolver) -> None:
        """A resolver is asked for keys nothing registered; it returns a Registration or None,
        or raises MissingBindingError to say why the key cannot be had."""
        self._resolvers.append(resolver)

    def add_implementations(self, classes: Iterable[type]) -> None:
        """Index concrete classes under their abstract bases, so the base can be injected."""
        for cls in classes:
            if is_abstract(cls):
                continue
            for base in cls.__mro__[1:]:
                if is_abstract(base) and base.__module__ not in ("abc", "typing", "builtins"):
                    implementations = self._implementations.setdefault(base, [])
                    if cls not in implementations:
                        implementations.append(cls)

    def is_registered(self, key: Any) -> bool:
        return key in self._registrations

    def _set(self, registration: Registration) -> None:
        with self._lock:
            self._registrations[registration.key] = registration
            self._instances.pop(registration.key, None)
            self._forget_plans()

    def _forget_plans(self) -> None:
        self.revision += 1
        self._plans.clear()
        self._dependencies.clear()
        self._missing.clear()

    # -- resolving -------------------------------------------------------------------------------

    def get(self, key: type[T]) -> T:
        instance = self._instances.get(key, _MISSING)
        if instance is not _MISSING:
            return instance
        plan = self._plans.get(key)
        if plan is None:
            plan = self.plan(key)
        return plan()

    def plan(self, key: Any) -> Plan:
        """The compiled factory for `key`; raises MissingBindingError naming the chain if there is none.

        A miss is remembered (until registrations change), so asking again for something that is
        optional, such as a unit of work, costs a dictionary lookup."""
        missing = self._missing.get(key)
        if missing is not None:
            raise missing
        with self._lock:
            try:
                return self._compile(key, ())
            except MissingBindingError as error:
                self._missing[key] = error
                raise

    def validate(self, keys: Iterable[Any]) -> None:
        """Compile every key's plan now, and report every key that cannot be built in one error."""
        problems = []
        for key in keys:
            try:
                self.plan(key)
            except MissingBindingError as error:
                problems.append(str(error))
        if problems:
            unique = list(dict.fromkeys(problems))
            listing = "\n  ".join(unique)
            raise PdiConfigurationError(f"the application cannot be wired:\n  {listing}", unique)

    def _compile(self, key: Any, chain: tuple) -> Plan:
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        if key in chain:
            names = [type_name(k) for k in (*chain, key)]
            raise DependencyCycleError(names, "these services depend on each other in a cycle")
        chain = (*chain, key)
        registration = self._registration_for(key, chain)
        plan = self._plan_for(registration, chain)
        self._plans[key] = plan
        return plan

    def _registration_for(self, key: Any, chain: tuple) -> Registration:
        registration = self._registrations.get(key)
        if registration is not None:
            return registration
        for resolver in self._resolvers:
            try:
                registration = resolver(key)
            except MissingBindingError as error:
                raise MissingBindingError([type_name(k) for k in chain], error.reason) from None
            if registration is not None:
                self._registrations[key] = registration
                return registration
        injector_module = sys.modules.get("injector")
        if injector_module is not None and key is injector_module.Injector:
            return Registration(key, Lifetime.SINGLETON, factory=lambda: self.injector)
        if self._injector is not None and self._injector.binder.has_explicit_binding_for(key):
            return Registration(key, factory=lambda: self._injector.get(key))
        return self._implicit_registration(key, chain)

    def _implicit_registration(self, key: Any, chain: tuple) -> Registration:
        names = [type_name(k) for k in chain]
        if is_primitive(key):
            raise MissingBindingError(
                names, f"a plain {type_name(key)} cannot be injected; give the parameter a default or bind a value"
            )
        if not isinstance(key, type):
            raise MissingBindingError(names, f"nothing is registered for {type_name(key)}")
        if is_abstract(key):
            candidates = self._implementations.get(key, [])
            if len(candidates) == 1:
                return Registration(key, alias_of=candidates[0])
            if candidates:
                listed = ", ".join(sorted(c.__qualname__ for c in candidates))
                raise MissingBindingError(
                    names, f"several implementations ({listed}); choose one with overrides or container.register"
                )
            raise MissingBindingError(names, "abstract, and no implementation was found under the application's root")
        return Registration(key, lifetime_of(key), implementation=key)

    def _plan_for(self, registration: Registration, chain: tuple) -> Plan:
        key = registration.key
        if registration.instance is not _MISSING:
            instance = registration.instance
            self._instances[key] = instance
            return lambda: instance
        if registration.alias_of is not None:
            self._dependencies[key] = {registration.alias_of}
            target = self._compile(registration.alias_of, chain)
            return target
        if registration.factory is not None:
            self._dependencies.setdefault(key, set())
            build = registration.factory
        else:
            build = self._constructor(registration.implementation, chain)
        return self._with_lifetime(registration, build, chain)

    def _constructor(self, cls: type, chain: tuple) -> Plan:
        try:
            parameters = constructor_parameters(cls)
        except MissingBindingError as error:
            names = [type_name(k) for k in chain[:-1]] + error.chain
            raise MissingBindingError(names, error.reason) from None
        injected = [p for p in parameters if not p.has_default or self._can_provide(p.dependency, chain)]
        self._dependencies[chain[-1]] = {p.dependency for p in injected}
        self._check_lifetimes(chain[-1], cls, injected)
        return _call_with(cls, [(p, self._compile(p.dependency, chain)) for p in injected])

    def _can_provide(self, key: Any, chain: tuple) -> bool:
        try:
            self._compile(key, chain)
        except MissingBindingError:
            return False
        return True

    def _check_lifetimes(self, key: Any, cls: type, injected: list) -> None:
        """A singleton that keeps a scoped service would keep it after its scope has ended."""
        registration = self._registrations.get(key)
        lifetime = registration.lifetime if registration else lifetime_of(cls)
        if lifetime is not Lifetime.SINGLETON:
            return
        for parameter in injected:
            dependency = parameter.dependency
            if self._lifetime_of_key(dependency) is Lifetime.SCOPED:
                raise MissingBindingError(
                    [type_name(key), type_name(dependency)],
                    "an ISingleton cannot depend on an IScoped service (it would outlive its scope); "
                    "make the consumer IScoped or transient",
                )

    def _lifetime_of_key(self, key: Any) -> Lifetime:
        registration = self._registrations.get(key)
        while registration is not None and registration.alias_of is not None:
            key = registration.alias_of
            registration = self._registrations.get(key)
        if registration is not None:
            return registration.lifetime
        return lifetime_of(key) if isinstance(key, type) else Lifetime.TRANSIENT

    def _with_lifetime(self, registration: Registration, build: Plan, chain: tuple) -> Plan:
        key = registration.key
        if registration.lifetime is Lifetime.SINGLETON:
            return self._singleton(key, build)
        if registration.lifetime is Lifetime.SCOPED:
            return self._scoped(key, build)
        return build

    def _singleton(self, key: Any, build: Plan) -> Plan:
        instances, lock = self._instances, self._lock

        def singleton():
            instance = instances.get(key, _MISSING)
            if instance is _MISSING:
                with lock:
                    instance = instances.get(key, _MISSING)
                    if instance is _MISSING:
                        instance = build()
                        instances[key] = instance
                        self._created.append(instance)
            return instance

        return singleton

    def _scoped(self, key: Any, build: Plan) -> Plan:
        current = self._scope.get

        def scoped():
            scope = current()
            if scope is None:
                raise ScopeNotOpenError(type_name(key))
            instance = scope.instances.get(key, _MISSING)
            if instance is _MISSING:
                instance = build()
                scope.instances[key] = instance
                scope.created.append(instance)
            return instance

        return scoped

    # -- scopes, overrides and cleanup --------------------------------------------------------------

    @property
    def in_scope(self) -> bool:
        return self._scope.get() is not None

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Within the block, each IScoped service is created once and closed at the end."""
        scope = self.open_scope()
        try:
            yield
        finally:
            self.close_scope(scope)

    def open_scope(self) -> _Scope:
        """Open a scope without a `with` block (for hot paths); pair it with `close_scope`."""
        scope = _Scope()
        scope.token = self._scope.set(scope)
        return scope

    def close_scope(self, scope: _Scope) -> None:
        self._scope.reset(scope.token)
        if scope.created:
            _release(reversed(scope.created))

    @contextmanager
    def override(self, key: Any, replacement: Any) -> Iterator[None]:
        """Within the block, `key` resolves to `replacement` (a class, or an instance used as is).

        Singletons that were built on the old `key` are set aside and rebuilt on demand, then
        restored when the block ends."""
        with self._lock:
            previous = self._registrations.get(key)
            stale = self._dependents_of(key) | {key}
            kept = {k: self._instances.pop(k) for k in stale if k in self._instances}
            self._apply_override(key, replacement)
        try:
            yield
        finally:
            with self._lock:
                for k in stale | self._dependents_of(key):
                    self._instances.pop(k, None)
                self._instances.update(kept)
                if previous is None:
                    self._registrations.pop(key, None)
                else:
                    self._registrations[key] = previous
                self._forget_plans()

    def _apply_override(self, key: Any, replacement: Any) -> None:
        if isinstance(replacement, type):
            self.register(key, replacement)
        else:
            self.register_instance(key, replacement)

    def apply_overrides(self, overrides: dict) -> None:
        for key, replacement in overrides.items():
            self._apply_override(key, replacement)

    def _dependents_of(self, key: Any) -> set:
        dependents, frontier = set(), {key}
        while frontier:
            found = {k for k, deps in self._dependencies.items() if deps & frontier} - dependents
            dependents |= found
            frontier = found
        return dependents

    def close(self) -> None:
        """Release the singletons this container created, newest first. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            created, self._created = self._created, []
            self._instances.clear()
            self._forget_plans()
        _release(reversed(created))


def _call_with(cls: type, arguments: list[tuple[Parameter, Plan]]) -> Plan:
    """A closure that builds `cls` from its dependencies' plans.

    Arguments go by position when they are the constructor's leading parameters (the common
    case, and measurably faster), by keyword otherwise; small arities get their own closure."""
    plans = tuple(plan for _, plan in arguments)
    if not plans:
        return cls
    if [parameter.position for parameter, _ in arguments] == list(range(len(arguments))):
        if len(plans) == 1:
            (first,) = plans
            return lambda: cls(first())
        if len(plans) == 2:
            first, second = plans
            return lambda: cls(first(), second())
        if len(plans) == 3:
            first, second, third = plans
            return lambda: cls(first(), second(), third())
        return lambda: cls(*[plan() for plan in plans])
    names = tuple(parameter.name for parameter, _ in arguments)
    return lambda: cls(**dict(zip(names, [plan() for plan in plans], strict=False)))


def _release(instances: Iterable[Any]) -> None:
    """Call `cleanup()` or `close()` on what the container created; one failure does not stop the rest."""
    for instance in instances:
        release = getattr(instance, "cleanup", None) or getattr(instance, "close", None)
        if not callable(release):
            continue
        try:
            release()
        except Exception:
            import logging  # only on failure: start-up need not pay for importing it

            logging.getLogger(__name__).exception("releasing %s failed", type_name(type(instance)))
