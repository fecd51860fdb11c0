"""Errors in an application's configuration, each naming where the bad value came from."""

from __future__ import annotations

from pdip.dependency.errors import PdiConfigurationError


class ConfigurationError(PdiConfigurationError):
    """A configuration file or value is wrong; the message names the file, line or key."""


class MissingSectionError(ConfigurationError):
    """A typed section with required fields has no values in any file or environment variable."""
