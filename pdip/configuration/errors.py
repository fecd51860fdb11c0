"""Errors in an application's configuration, each naming where the bad value came from."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from pdip.dependency.errors import PdiConfigurationError


class ConfigurationError(PdiConfigurationError):
    """A configuration file or value is wrong; the message names the file, line or key."""


class DeprecatedKeyWarning(FutureWarning):
    """A configuration key is written in upstream pdip's spelling, or has no meaning any more.

    A FutureWarning, which Python shows by default: the reader is whoever runs the application."""


class MissingSectionError(ConfigurationError):
    """A typed section with required fields has no values in any file or environment variable."""


def refuse_unknown(
    keys: Iterable, known: Iterable[str], prefix: str, what: str, error: type[PdiConfigurationError]
) -> None:
    """Raise `error` for the first of `keys` not in `known` (see `unknown_keys`). The one
    unknown-key check of operations, adapter settings and Kafka client settings; each area passes
    its own error class."""
    found = unknown_keys(keys, known, prefix, what)
    if found:
        raise error(found[0])


def unknown_keys(keys: Iterable, known: Iterable[str], prefix: str, what: str) -> list[str]:
    """`<prefix><key>: <what> (expected one of ...)` for each of `keys` not in `known`, with the
    closest known key suggested."""
    known = list(known)
    return [
        f"{prefix}{key}: {what} (expected one of {', '.join(known)}){closest(str(key), known)}"
        for key in keys
        if key not in known
    ]


def closest(word: str, known: Iterable[str], quoted: bool = False) -> str:
    """`; did you mean <the one of known closest to word>?` (its repr when `quoted`), or "" when
    none is close: the suggestion every "unknown key" and "expected one of" message ends with."""
    hint = get_close_matches(word, list(known), n=1)
    if not hint:
        return ""
    return f"; did you mean {hint[0]!r}?" if quoted else f"; did you mean {hint[0]}?"
