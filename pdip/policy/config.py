"""The `POLICY` configuration section and the chain of policy files an application runs under.

    # application.yml
    POLICY:
      FILES: [policies/customers.yml]
      SALT: enc:gAAAA...        # or POLICY_SALT in the environment; never logged

An application's policy is, in order (later rules win where they overlap): the built-in rules,
`.pdip/policy.yml` (or `.pdip/policy.toml`) under the application's root, the files in
`POLICY.FILES`, then the files in the `PDIP_POLICY` environment variable, separated by `::`
(`PDIP_POLICY=a.yml::b.yml`). Relative paths are read from the application's root. A file
that is listed but missing is an error naming where it was listed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pdip.configuration.models.base import BaseConfig
from pdip.policy.errors import PolicyFileError
from pdip.policy.secrets import MASK

if TYPE_CHECKING:
    from pdip.configuration import Configuration

APPLICATION_POLICY_FILES = (".pdip/policy.yml", ".pdip/policy.toml")
POLICY_VARIABLE = "PDIP_POLICY"
SEPARATOR = "::"


@dataclasses.dataclass(repr=False)
class PolicyConfig(BaseConfig):
    """The `POLICY` section: extra policy files, and the salt that hashing uses."""

    files: list[str] = dataclasses.field(default_factory=list)
    salt: str | None = None

    def __repr__(self) -> str:  # the salt is a secret whatever its name
        return f"PolicyConfig(files={self.files!r}, salt={MASK if self.salt is not None else None})"


def policy_chain(
    configuration: Configuration, environ: Mapping[str, str] | None = None
) -> tuple[list[Path], str | None]:
    """The policy files of an application in the order they apply, and its salt."""
    environ = os.environ if environ is None else environ
    section = configuration.section(PolicyConfig)
    root = Path(configuration.root_directory or Path.cwd())
    paths = [root / name for name in APPLICATION_POLICY_FILES if (root / name).is_file()]
    listed = [(name, "POLICY.FILES in the configuration") for name in section.files]
    variable = environ.get(POLICY_VARIABLE, "")
    listed += [(name.strip(), f"the {POLICY_VARIABLE} environment variable") for name in variable.split(SEPARATOR)]
    for name, origin in listed:
        if not name:
            continue
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise PolicyFileError(str(path), f"no such file (listed in {origin})")
        paths.append(path)
    return paths, section.salt
