"""Field policies: what may leave the process, decided per field by rules (allow, redact, hash,
drop, drop_record), with built-in rules for secrets that always come first.

Only the secret-name rules are imported with the package: pdip.configuration needs them at
start-up, and an application that never applies a policy should not pay for loading the
engine. The other names are imported on first use.
"""

import importlib
from typing import Any

from pdip.policy.secrets import (
    MASK,
    is_secret_name,
    mask_connection_string,
    mask_secrets,
)

_LAZY = {
    "REDACTED": "pdip.policy.walking",
    "Policy": "pdip.policy.engine",
    "MissingSaltError": "pdip.policy.errors",
    "PolicyError": "pdip.policy.errors",
    "PolicyFileError": "pdip.policy.errors",
    "PolicyFile": "pdip.policy.files",
    "PolicyLogFilter": "pdip.policy.logs",
    "Rule": "pdip.policy.rules",
    # a configuration section: importing it eagerly would also be a circular import
    "PolicyConfig": "pdip.policy.config",
}

__all__ = [
    "MASK",
    "REDACTED",
    "MissingSaltError",
    "Policy",
    "PolicyConfig",
    "PolicyError",
    "PolicyFile",
    "PolicyFileError",
    "PolicyLogFilter",
    "Rule",
    "is_secret_name",
    "mask_connection_string",
    "mask_secrets",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pdip.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
