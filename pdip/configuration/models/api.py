from __future__ import annotations

from pdip.configuration.models.base import BaseConfig


class ApiConfig(BaseConfig):
    """The `API` section: where the REST API listens and how it answers."""

    host: str = "127.0.0.1"
    port: int = 5000
    base_url: str = "/api"
    docs_url: str = "/api/docs"
    envelope: bool = False
    debug: bool = False
