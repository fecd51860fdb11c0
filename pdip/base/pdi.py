"""`Pdi`: the composition root. Configuration, discovery and the container of one application.

Everything `Pdi` makes belongs to the instance: two `Pdi` objects in one process share nothing
but Python's module cache, and `with Pdi(...) as pdi:` releases what it created.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pdip.configuration import ApplicationConfig, BaseConfig, Configuration, DatabaseConfig
from pdip.configuration.errors import MissingSectionError
from pdip.cqrs.handlers import HANDLER_BASES
from pdip.cqrs.pipeline import IPipelineBehavior, IUnitOfWork
from pdip.cqrs.registry import HandlerRegistry
from pdip.dependency.container import Container, Registration
from pdip.dependency.discovery import DiscoveryResult, discover
from pdip.dependency.errors import MissingBindingError, PdiConfigurationError
from pdip.dependency.planning import is_abstract
from pdip.dependency.scopes import IScoped, ISingleton, Lifetime, lifetime_of

T = TypeVar("T")

# The bases whose subclasses discovery looks for. Areas add theirs (handlers, controllers).
# Areas with heavy imports (SQLAlchemy's ORM) are named as "module:Class", loaded only if used.
DISCOVERED_BASES: tuple[type | str, ...] = (
    ISingleton,
    IScoped,
    BaseConfig,
    *HANDLER_BASES,
    IPipelineBehavior,
    "pdip.data.domain:Entity",
    "pdip.data.seeds:Seed",
    "pdip.api.base:ControllerBase",
)


class Pdi:
    """The application: `pdi.get(Service)` resolves a service and everything it needs.

    Args:
        root_directory: the application's folder; the calling script's folder when omitted.
        configurations: a mapping merged over the YAML files, and/or `BaseConfig` objects used as is.
        excluded_modules: folders, files or dotted modules under the root that discovery skips.
        environment: selects `application.<environment>.yml`; else `PDIP_ENVIRONMENT`,
            else `PYTHON_ENVIRONMENT`.
        overrides: `{Service: replacement}`; a class is constructed, anything else used as is.
        validate: check at start that every discovered service can be built.
        modules: `injector.Module`s whose bindings and providers join the container.
    """

    def __init__(
        self,
        root_directory: str | os.PathLike | None = None,
        configurations: Mapping | Iterable[BaseConfig] | None = None,
        excluded_modules: Iterable[str] | None = None,
        environment: str | None = None,
        overrides: Mapping[Any, Any] | None = None,
        validate: bool = True,
        modules: Iterable[Any] = (),
    ):
        self.root_directory = _root(root_directory)
        raw, sections = _split_configurations(configurations)
        self.configuration = Configuration.load(self.root_directory, environment, raw)
        for section in sections:
            self.configuration.add_section(section)
        self.container = Container(modules)
        self.get = self.container.get
        self._added_path = str(self.root_directory) not in sys.path
        self.discovered: DiscoveryResult = discover(self.root_directory, DISCOVERED_BASES, excluded_modules or ())
        self.configuration.warn_unread(_subclasses(BaseConfig))
        self._register()
        self.container.apply_overrides(dict(overrides or {}))
        if validate:
            self.validate()

    def _register(self) -> None:
        container = self.container
        container.register_instance(Pdi, self)
        container.register_instance(Container, container)
        container.register_instance(Configuration, self.configuration)
        container.register_instance(DiscoveryResult, self.discovered)
        container.add_resolver(self._unit_of_work_resolver)
        container.add_resolver(self._section_resolver)
        self._register_framework_services()
        services = [cls for cls in self.discovered.classes if issubclass(cls, (ISingleton, IScoped))]
        container.add_implementations(services)
        for cls in services:
            if not is_abstract(cls):
                container.register(cls, cls, lifetime_of(cls))

    def _register_framework_services(self) -> None:
        """pdip's own singletons that take their settings from the configuration.

        They are offered through a resolver keyed by class path, so `Pdi()` imports none of
        their modules (logging, the policy engine) until something asks for one."""
        self.container.register_factory(HandlerRegistry, self._handler_registry, Lifetime.SINGLETON)
        self.container.add_resolver(self._framework_resolver)

    def _framework_resolver(self, key: Any) -> Registration | None:
        make = _FRAMEWORK_FACTORIES.get(f"{getattr(key, '__module__', '')}:{getattr(key, '__qualname__', '')}")
        if make is None:
            return None
        configuration = self.configuration
        return Registration(key, Lifetime.SINGLETON, factory=lambda: make(key, configuration))

    def _handler_registry(self) -> HandlerRegistry:
        return HandlerRegistry(self.discovered.subclasses_of((*HANDLER_BASES, IPipelineBehavior)), self.root_directory)

    def _unit_of_work_resolver(self, key: Any) -> Registration | None:
        """Commands commit through the data layer's UnitOfWork once a DATABASE section exists."""
        if key is not IUnitOfWork:
            return None
        if not self.configuration.has_section(DatabaseConfig):
            raise MissingBindingError([], "no DATABASE section, so there is no unit of work to commit")
        from pdip.data.unit_of_work import UnitOfWork

        return Registration(key, alias_of=UnitOfWork)

    def _section_resolver(self, key: Any) -> Registration | None:
        if not (isinstance(key, type) and issubclass(key, BaseConfig)):
            return None
        configuration = self.configuration
        try:
            configuration.section(key)
        except MissingSectionError as error:
            raise MissingBindingError([], str(error)) from None
        return Registration(key, Lifetime.SINGLETON, factory=lambda: configuration.section(key))

    # -- use -------------------------------------------------------------------------------------

    def get(self, interface: type[T]) -> T:  # replaced per instance by the container's bound `get`
        return self.container.get(interface)

    def scope(self):
        """`with pdi.scope():` shares each IScoped service within the block, and closes it after."""
        return self.container.scope()

    def override(self, interface: Any, replacement: Any):
        """`with pdi.override(Service, fake):` resolves `Service` to `fake` within the block."""
        return self.container.override(interface, replacement)

    def validate(self) -> None:
        """Build every discovered service's plan and every configuration section now.

        Raises PdiConfigurationError listing every service that cannot be built, with the chain
        of dependencies that leads to the problem."""
        sections = [cls for cls in self.discovered.classes if issubclass(cls, BaseConfig)]
        for cls in sections:
            if self.configuration.has_section(cls):
                self.configuration.section(cls)
        registry = self.container.get(HandlerRegistry)  # two handlers for one request fail here
        wired = [cls for cls in self.discovered.classes if issubclass(cls, (ISingleton, IScoped))]
        wired += [*registry.requests.values(), *registry.behaviours]
        self.container.validate(dict.fromkeys(cls for cls in wired if not is_abstract(cls)))

    # -- lifetime ----------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Release singletons that have `cleanup()` or `close()` (engines, pools, workers)."""
        self.container.close()
        if self._added_path:
            entry = str(self.root_directory)
            if entry in sys.path:
                sys.path.remove(entry)
            self._added_path = False

    def __enter__(self) -> Pdi:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"Pdi(root_directory={str(self.root_directory)!r}, environment={self.configuration.environment!r})"


def _console_logger(cls: type, configuration: Configuration) -> Any:
    application = configuration.section(ApplicationConfig)
    return cls(level=application.log_level, name=application.name)


# "module:Class" of framework services -> how to build one from the application's configuration.
_FRAMEWORK_FACTORIES = {
    "pdip.logging.loggers.console:ConsoleLogger": _console_logger,
    "pdip.cryptography.crypto_service:CryptoService": lambda cls, configuration: configuration.crypto(),
    "pdip.policy.engine:Policy": lambda cls, configuration: cls.for_configuration(configuration),
}


def _subclasses(cls: type) -> list[type]:
    """Every class loaded in the process that derives from `cls`."""
    found = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found


def _root(root_directory: str | os.PathLike | None) -> Path:
    """The given folder, or the folder of the script that created the `Pdi`."""
    if root_directory is not None:
        root = Path(root_directory).resolve()
        if not root.is_dir():
            raise PdiConfigurationError(f"root_directory {root} is not a folder")
        return root
    frame = sys._getframe(2)
    caller = frame.f_globals.get("__file__")
    return Path(caller).resolve().parent if caller else Path.cwd().resolve()


def _split_configurations(configurations: Mapping | Iterable[BaseConfig] | None) -> tuple[dict, list[BaseConfig]]:
    if configurations is None:
        return {}, []
    if isinstance(configurations, Mapping):
        return dict(configurations), []
    raw, sections = {}, []
    for item in configurations:
        if isinstance(item, BaseConfig):
            sections.append(item)
        elif isinstance(item, Mapping):
            raw.update(item)
        else:
            raise PdiConfigurationError(
                f"configurations: expected a mapping or BaseConfig objects, got {type(item).__name__}"
            )
    return raw, sections
