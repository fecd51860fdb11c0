from __future__ import annotations

from pdip.configuration.models.base import BaseConfig


class ApplicationConfig(BaseConfig):
    """The `APPLICATION` section: what the application is called and how it runs."""

    __retired__ = {"HOSTNAME": "pdip does not name the host in what it writes; remove the key"}

    name: str = "pdip"
    environment: str | None = None
    root_directory: str | None = None
    log_level: str = "INFO"
    secret_key: str | None = None
