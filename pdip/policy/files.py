"""Reading policy files, YAML or TOML (by the file's suffix: `.toml` is TOML, anything else YAML).

    # policy.yml                               # policy.toml
    meta:                                      [meta]
      name: customer data                      name = "customer data"
    rules:                                     [[rules]]
      - table: customers                       table = "customers"
        column: email                          column = "email"
        action: hash                           action = "hash"

`meta` is free-form and optional (its `name` shows up in reports); `rules` is a list. A file
with a `scope` table instead is a codetracer trace filter (`pdip.policy.tracefilters`). Each file
is kept with the SHA-256 of its bytes, so a run's metadata can say exactly which policy it ran
under. TOML is read with `tomllib` (Python 3.11+) or, on 3.10, the `tomli` package if installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pdip.policy.errors import PolicyFileError
from pdip.policy.rules import Rule, parse_rule
from pdip.policy.tracefilters import TraceFilter, is_trace_filter, read_trace_filter

_TOP_KEYS = ("meta", "rules")


class PolicyFile:
    """A loaded policy file: where it is, the SHA-256 of its bytes, its meta and its rules."""

    __slots__ = ("meta", "path", "rule_count", "rules", "sha256")

    def __init__(
        self,
        path: str,
        sha256: str,
        meta: Mapping[str, Any],
        rules: tuple[Rule | TraceFilter, ...],
        rule_count: int | None = None,
    ):
        self.path = path
        self.sha256 = sha256
        self.meta = meta
        self.rules = rules
        self.rule_count = len(rules) if rule_count is None else rule_count  # a trace filter's: its scope rules

    @property
    def name(self) -> str | None:
        name = self.meta.get("name")
        return str(name) if name is not None else None

    def describe(self) -> dict[str, Any]:
        """What run metadata records about the file."""
        return {"path": self.path, "sha256": self.sha256, "name": self.name, "rules": self.rule_count}

    def __repr__(self) -> str:
        return f"PolicyFile({self.path!r}, sha256={self.sha256[:12]}..., {self.rule_count} rules)"


def load_policy_file(path: str | os.PathLike[str]) -> PolicyFile:
    """Read and check one policy file; PolicyFileError names the file (and rule) when it is wrong."""
    path = Path(path)
    source = str(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyFileError(source, f"cannot read the file ({error.strerror or error})") from None
    data = _parse(content, path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PolicyFileError(source, f"expected a mapping with `meta` and `rules`; got {type(data).__name__}")
    if is_trace_filter(data):
        meta, rules, count = read_trace_filter(data, source)
        return PolicyFile(source, _sha256(content), meta, rules, count)
    unknown = [str(key) for key in data if key not in _TOP_KEYS]
    if unknown:
        raise PolicyFileError(source, f"unknown top-level key {unknown[0]!r}; a policy file has meta and rules")
    meta = data.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise PolicyFileError(source, f"meta: expected a mapping (name, description, ...); got {meta!r}")
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise PolicyFileError(source, f"rules: expected a list of rules; got {type(raw_rules).__name__}")
    rules = tuple(parse_rule(raw, index, source) for index, raw in enumerate(raw_rules, 1))
    return PolicyFile(source, _sha256(content), dict(meta), rules)


def _sha256(content: bytes) -> str:
    import hashlib  # imported on use, like yaml: OpenSSL's bindings take a while to load

    return hashlib.sha256(content).hexdigest()


def _parse(content: bytes, path: Path) -> Any:
    source = str(path)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyFileError(source, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    if path.suffix.lower() == ".toml":
        toml = _toml_module(source)
        try:
            return toml.loads(text)
        except toml.TOMLDecodeError as error:
            raise PolicyFileError(source, f"not valid TOML: {error}") from None
    import yaml  # imported on use: a process that loads no policy file never needs it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyFileError(source, f"not valid YAML: {' '.join(str(error).split())}") from None


def _toml_module(source: str) -> Any:
    try:
        import tomllib

        return tomllib
    except ModuleNotFoundError:  # Python 3.10
        pass
    try:
        import tomli

        return tomli
    except ModuleNotFoundError:
        raise PolicyFileError(
            source,
            "reading TOML needs Python 3.11 or the tomli package (pip install tomli); or write the policy in YAML",
        ) from None
