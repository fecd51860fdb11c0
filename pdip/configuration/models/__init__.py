"""Typed configuration sections shipped with pdip; applications add their own `BaseConfig` subclasses."""

from pdip.configuration.models.api import ApiConfig
from pdip.configuration.models.application import ApplicationConfig
from pdip.configuration.models.base import BaseConfig
from pdip.configuration.models.database import DatabaseConfig

__all__ = ["ApiConfig", "ApplicationConfig", "BaseConfig", "DatabaseConfig"]
