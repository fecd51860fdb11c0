"""Configuration: application.yml, its environment overlay and environment variables, as typed sections."""

from pdip.configuration.configuration import Configuration
from pdip.configuration.errors import ConfigurationError, DeprecatedKeyWarning, MissingSectionError
from pdip.configuration.models import ApiConfig, ApplicationConfig, BaseConfig, DatabaseConfig

__all__ = [
    "ApiConfig",
    "ApplicationConfig",
    "BaseConfig",
    "Configuration",
    "ConfigurationError",
    "DatabaseConfig",
    "DeprecatedKeyWarning",
    "MissingSectionError",
]
