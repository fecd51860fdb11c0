"""`Configuration`: an application's settings, read once at start and bound into typed sections.

Precedence, lowest first: a field's default, application.yml, application.<env>.yml, the
`configurations` passed to `Pdi`, then environment variables (`DATABASE_HOST` or
`DATABASE__HOST`). A value written `enc:<token>` is decrypted with the application's secret key.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pdip.configuration import loader, upstream
from pdip.configuration.binding import build
from pdip.configuration.errors import ConfigurationError, MissingSectionError, closest
from pdip.configuration.models.application import ApplicationConfig
from pdip.configuration.models.base import BaseConfig, normalized, snake_upper

C = TypeVar("C", bound=BaseConfig)

ENCRYPTED_PREFIX = "enc:"
SECRET_KEY_VARIABLE = "APPLICATION_SECRET_KEY"


class Configuration:
    """The merged configuration of one application, and the typed sections made from it."""

    def __init__(
        self,
        data: Mapping | None = None,
        *,
        root_directory: str | Path | None = None,
        environment: str | None = None,
        environ: Mapping[str, str] | None = None,
        origins: loader.Origins | None = None,
        files: list[Path] | None = None,
    ):
        self.data = dict(data or {})
        self.root_directory = Path(root_directory) if root_directory else None
        self.environment = environment
        self.files = list(files or [])
        self._environ = dict(os.environ if environ is None else environ)
        self._origins = dict(origins or {})
        self._sections: dict[type, BaseConfig] = {}
        self._lock = threading.Lock()
        self._crypto = None

    @classmethod
    def load(
        cls,
        root_directory: str | Path,
        environment: str | None = None,
        configurations: Mapping | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Configuration:
        """Read the root's application.yml, its overlay for `environment` and `configurations`."""
        environ = dict(os.environ if environ is None else environ)
        environment = environment or environ.get("PDIP_ENVIRONMENT") or environ.get("PYTHON_ENVIRONMENT") or None
        root = Path(root_directory)
        data, origins, files = loader.load(root, environment, configurations, environ)
        return cls(data, root_directory=root, environment=environment, environ=environ, origins=origins, files=files)

    # -- raw access ------------------------------------------------------------------------------

    def get(self, path: str, default: Any = None) -> Any:
        """A raw value by dotted path, spelling-insensitive: `get("database.host")`."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return default
            node = _lookup(node, part)
            if node is _ABSENT:
                return default
        return node

    def where(self, path: str) -> str | None:
        """The file and line a dotted key path came from (`application.yml:12`), spelling-
        insensitive; the nearest key above it when the key itself was not written; None when
        no file gave it."""
        keys = tuple(normalized(part) for part in path.split("."))
        while keys:
            if keys in self._origins:
                return self._origins[keys]
            keys = keys[:-1]
        return None

    # -- typed sections ----------------------------------------------------------------------------

    def has_section(self, cls: type[BaseConfig]) -> bool:
        """Whether any file or environment variable gives `cls` a value."""
        return _lookup(self.data, cls.section_name()) is not _ABSENT or bool(self._environment_values(cls))

    def section(self, cls: type[C]) -> C:
        """The typed section `cls`, built once and cached; raises if it is wrong or missing."""
        section = self._sections.get(cls)
        if section is None:
            with self._lock:
                section = self._sections.get(cls) or self._build(cls)
                self._sections[cls] = section
        return section

    def add_section(self, section: BaseConfig) -> None:
        """Use an already built section object as is (from `Pdi(configurations=[...])`)."""
        self._sections[type(section)] = section

    def _build(self, cls: type[C]) -> C:
        name = cls.section_name()
        raw = _lookup(self.data, name)
        if raw is _ABSENT:
            raw = {}
        elif not isinstance(raw, Mapping):
            raise ConfigurationError(
                f"{self._origin((normalized(name),))}: {name}: expected a mapping of keys, got {raw!r}"
            )
        values, origins, unknown = self._field_values(cls, raw)
        from_environment = self._environment_values(cls)
        for field, (variable, value) in from_environment.items():
            values[field] = value
            origins[field] = f"environment variable {variable}"
        if not raw and not from_environment and cls.required_keys():
            required = ", ".join(cls.required_keys())
            where = " or ".join(p.name for p in self.files) or "application.yml"
            raise MissingSectionError(
                f"no {name} section in {where} and no {name}_* environment variables (required: {required})"
            )
        values = {field: self._decrypt(name, field, value, origins.get(field)) for field, value in values.items()}
        try:
            section = build(cls, values, origins, (name,))
        except ConfigurationError as error:
            unknown.extend(error.problems)
        if unknown:  # every problem of the section at once: unknown keys, then values
            raise ConfigurationError("; ".join(unknown), unknown)
        return section

    def warn_unread(self, sections: Iterable[type[BaseConfig]]) -> None:
        """Warn about upstream pdip's sections in the files that none of `sections` reads."""
        upstream.unread_sections(self.data, [cls.section_name() for cls in sections])

    def problems(self, sections: Iterable[type[BaseConfig]]) -> list[str]:
        """Every problem (unknown keys, values of the wrong type) of those `sections` that a file
        or an environment variable gives values, even when no service asks for them; each
        names the file and line or the variable."""
        found: list[str] = []
        for cls in sections:
            if self.has_section(cls):
                try:
                    self._build(cls)
                except ConfigurationError as error:
                    found.extend(error.problems)
        return found

    def _field_values(self, cls: type, raw: Mapping) -> tuple[dict, dict, list[str]]:
        """The section's values by field, where each came from, and its unknown keys' problems."""
        fields = {normalized(f.name): f.name for f in dataclasses.fields(cls)}
        aliases = {normalized(old): old for old in cls.__aliases__}
        retired = {normalized(old): old for old in cls.__retired__}
        values, origins, unknown, renamed = {}, {}, [], {}
        section = cls.section_name()
        for key, value in raw.items():
            field = fields.get(normalized(str(key)))
            origin = self._origin((normalized(section), normalized(str(key))))
            old = aliases.get(normalized(str(key))) if field is None else None
            if old is not None:
                upstream.renamed(section, old, cls.__aliases__[old], origin)
                renamed[cls.__aliases__[old]] = (value, origin)
                continue
            old = retired.get(normalized(str(key))) if field is None else None
            if old is not None:
                upstream.retired(section, old, cls.__retired__[old], origin)
                continue
            if field is None:
                names = [name.upper() for name in fields.values()]
                suggestion = closest(str(key).upper(), names)
                unknown.append(f"{origin}: {section}.{key}: unknown key (known keys: {', '.join(names)}){suggestion}")
                continue
            values[field], origins[field] = value, origin
        for field, (value, origin) in renamed.items():  # today's key wins over its old name
            if field not in values:
                values[field], origins[field] = value, origin
        return values, origins, unknown

    def _environment_values(self, cls: type) -> dict[str, tuple[str, str]]:
        """Fields set by environment variables: field -> (variable, value)."""
        section = cls.section_name()
        found = {}
        for item in dataclasses.fields(cls):
            for variable in self._variables(section, item.name):
                found.setdefault(item.name, (variable, self._environ[variable]))
        for old, field in cls.__aliases__.items():
            for variable in self._variables(section, old):
                upstream.renamed(section, old, field, f"environment variable {variable}")
                found.setdefault(field, (variable, self._environ[variable]))
        for old, advice in cls.__retired__.items():
            for variable in self._variables(section, old):
                upstream.retired(section, old, advice, f"environment variable {variable}")
        return found

    def _variables(self, section: str, key: str) -> list[str]:
        """The environment variables set for `SECTION.KEY`: SECTION_KEY or SECTION__KEY."""
        names = [
            f"{prefix}{separator}{key.upper()}"
            for prefix in _environment_prefixes(section)
            for separator in ("__", "_")
        ]
        return [name for name in names if name in self._environ]

    def _origin(self, path: tuple[str, ...]) -> str:
        return self._origins.get(path) or (self.files[-1].name if self.files else "configuration")

    # -- secrets ---------------------------------------------------------------------------------

    def _decrypt(self, section: str, field: str, value: Any, origin: str | None) -> Any:
        """`value` decrypted when it is written `enc:...`, and so is every such value inside a
        mapping or list (a section's nested parts: `INTEGRATOR.ALERTS.EMAIL.PASSWORD`)."""
        if isinstance(value, Mapping):
            return {key: self._decrypt(section, f"{field}.{key}", item, origin) for key, item in value.items()}
        if isinstance(value, list):
            return [self._decrypt(section, field, item, origin) for item in value]
        if not isinstance(value, str) or not value.startswith(ENCRYPTED_PREFIX):
            return value
        where = f"{origin}: " if origin else ""
        from pdip.cryptography import CryptographyError

        try:
            return self.crypto().decrypt(value[len(ENCRYPTED_PREFIX) :])
        except CryptographyError as error:
            raise ConfigurationError(
                f"{where}{section}.{field.upper()}: the encrypted value cannot be decrypted "
                f"({type(error).__name__}); check {SECRET_KEY_VARIABLE} or APPLICATION.SECRET_KEY"
            ) from None

    def secret_keys(self) -> str | None:
        """The application's secret key(s): the environment first, then APPLICATION.SECRET_KEY."""
        if self._environ.get(SECRET_KEY_VARIABLE):
            return self._environ[SECRET_KEY_VARIABLE]
        raw = _lookup(self.data, ApplicationConfig.section_name())
        if isinstance(raw, Mapping):
            key = _lookup(raw, "secret_key")
            if isinstance(key, str) and not key.startswith(ENCRYPTED_PREFIX):
                return key
        return None

    def crypto(self):
        """The CryptoService that decrypts `enc:` values, made on first use."""
        if self._crypto is None:
            from pdip.cryptography import CryptoService

            self._crypto = CryptoService(self.secret_keys())
        return self._crypto

    def __repr__(self) -> str:
        files = ", ".join(path.name for path in self.files) or "no files"
        return f"Configuration({files}, environment={self.environment!r})"


_ABSENT = object()


def _lookup(mapping: Mapping, key: str) -> Any:
    wanted = normalized(key)
    for candidate, value in mapping.items():
        if normalized(str(candidate)) == wanted:
            return value
    return _ABSENT


def _environment_prefixes(section: str) -> list[str]:
    upper = snake_upper(section)
    compact = upper.replace("_", "")
    return [upper] if compact == upper else [upper, compact]
