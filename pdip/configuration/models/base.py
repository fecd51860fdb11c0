"""`BaseConfig`: a typed configuration section.

A subclass is a dataclass whether or not it is decorated: its fields are the section's keys.
Upstream pdip wrote `@dataclass` over its config classes; the decorator then runs a second time
over a class that is already a dataclass, and finds the `field(...)` declarations gone (a first
pass replaces them by their defaults, or deletes them for factories). So the first pass puts
every `field(...)` back as it was written, and a second pass reads the same fields again.
The section's name is the class name minus `Config` (`DatabaseConfig` -> `DATABASE`), matched
against YAML keys case-insensitively and in snake, camel or UPPER spelling; `__section__`
overrides it. `repr()` masks secret-looking fields, so a config object can be logged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pdip.policy import MASK, is_secret_name

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_upper(name: str) -> str:
    """`MyService` -> `MY_SERVICE`, `APIKeys` -> `API_KEYS`, `my_service` -> `MY_SERVICE`."""
    return _WORD_BOUNDARY.sub("_", name).replace("-", "_").upper()


def normalized(name: str) -> str:
    """The spelling-free form two keys are compared in: `SECRET_KEY` == `secretKey` == `secret-key`."""
    return name.replace("_", "").replace("-", "").lower()


class _Declared:
    """A `field(...)` as written, left on the class: the class gives the declaration (what
    `@dataclass` reads), an instance its default (what an `init=False` field holds)."""

    def __init__(self, declaration: dataclasses.Field):
        self.declaration = declaration

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self.declaration
        if self.declaration.default is dataclasses.MISSING:
            raise AttributeError(self.declaration.name)
        return self.declaration.default


class BaseConfig:
    """Base of typed configuration sections; injected by type wherever a service asks for one."""

    __section__: ClassVar[str | None] = None
    # Upstream pdip's names of this section's keys (see pdip.configuration.upstream): the field
    # each sets today, or for a key without meaning, what to write instead.
    __aliases__: ClassVar[Mapping[str, str]] = {}
    __retired__: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        declared = {name: value for name, value in cls.__dict__.items() if isinstance(value, dataclasses.Field)}
        dataclasses.dataclass(cls, repr=False)
        for name, declaration in declared.items():  # what a second pass, `@dataclass`, will read
            setattr(cls, name, _Declared(declaration))
        if "__repr__" not in cls.__dict__:  # so `@dataclass` keeps the masked repr
            cls.__repr__ = BaseConfig.__repr__

    @classmethod
    def section_name(cls) -> str:
        """The section's key as written in application.yml, in UPPER snake case."""
        if cls.__section__:
            return cls.__section__
        name = cls.__name__
        if name.endswith("Config") and name != "Config":
            name = name[: -len("Config")]
        return snake_upper(name)

    @classmethod
    def required_keys(cls) -> list[str]:
        """The keys a section must be given, as an error about a missing section lists them."""
        return [item.name.upper() for item in dataclasses.fields(cls) if _is_required(item)]

    def __repr__(self) -> str:
        shown = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            text = MASK if value is not None and is_secret_name(item.name) else repr(value)
            shown.append(f"{item.name}={text}")
        return f"{type(self).__qualname__}({', '.join(shown)})"


def _is_required(item: dataclasses.Field) -> bool:
    return item.init and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
