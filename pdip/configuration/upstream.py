"""Keys written for upstream pdip 0.8, read by today's sections.

A section declares upstream's names of its keys: `__aliases__` maps a name to the field it now
sets (`IS_DEBUG` -> `debug`), `__retired__` maps a name that has no meaning any more to what to
write instead. Either is accepted with a `DeprecatedKeyWarning` that names the file and line,
once per process for each key, so an upstream application starts and says what to change.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from pdip.configuration.errors import DeprecatedKeyWarning
from pdip.configuration.models.base import normalized

WARNED: set[str] = set()  # "SECTION.KEY" already warned about in this process

# Upstream's sections that pdip has no class for, and what to do about them.
SECTIONS = {
    "APS": "upstream's APScheduler settings; pdip has no scheduler. "
    "An application that reads them declares `class ApsConfig(BaseConfig)` with their keys",
}


def renamed(section: str, old: str, field: str, origin: str) -> None:
    """`SECTION.OLD` set `field`: say what today's key is."""
    new = field.upper()
    warn_once(f"{section}.{old}", f"{origin}: {section}.{old} is upstream pdip's name for {section}.{new}; write {new}")


def retired(section: str, old: str, advice: str, origin: str) -> None:
    """`SECTION.OLD` was given but means nothing today: say so, and what to do instead."""
    warn_once(f"{section}.{old}", f"{origin}: {section}.{old} has no meaning in pdip and is ignored; {advice}")


def warn_once(subject: str, message: str) -> None:
    """Warn with `message` unless `subject` was warned about before in this process."""
    if subject in WARNED:
        return
    WARNED.add(subject)
    warnings.warn(message, DeprecatedKeyWarning, stacklevel=3)


def unread_sections(names: Iterable[str], declared: Iterable[str]) -> None:
    """Warn about each of upstream's `SECTIONS` among `names` (the configuration's top-level keys)
    that no `declared` section class reads."""
    wanted = {normalized(name) for name in declared}
    for name in names:
        section = next((key for key in SECTIONS if normalized(key) == normalized(str(name))), None)
        if section is not None and normalized(section) not in wanted:
            warn_once(section, f"{section}: this section is not read by pdip; {SECTIONS[section]}")
