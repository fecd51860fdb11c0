"""The `API` section: where the REST API listens, how it answers, and who may call it.

```yaml
API:
  PORT: 8080
  ENVELOPE: false                 # true: {IsSuccess, Message, Result} around every success
  NAMESPACES: false               # true: /api/<package>/<Name> (see docs/api.md)
  CORS_ORIGINS: [https://app.example.com]
  MAX_BODY_BYTES: 1048576
  MAX_PAGE_SIZE: 1000             # ?size= and ?limit= are bounded to 1..MAX_PAGE_SIZE
  WORKERS: 2                      # `pdip api`: gunicorn worker processes, each with THREADS threads
  AUTHENTICATION: api_key         # none | api_key | bearer
  KEYS:                           # only SHA-256 hashes of the keys are kept (pdip.api.hash_key)
    - NAME: reporting
      HASH: sha256:9f86d08...
      TENANTS: [tenant-a]         # the tenants this key may act for; empty: any
  TENANT_HEADER: X-Tenant-Id
  ERROR_STATUS:                   # domain errors as HTTP statuses, by "module:Class"
    app.accounts.errors:AccountExistsError: 409
```
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pdip.configuration.models.base import BaseConfig


@dataclasses.dataclass
class ApiKeyConfig:
    """One static credential: a name for logs and records, the key's hash, the tenants it may use."""

    name: str
    hash: str
    tenants: list[str] = dataclasses.field(default_factory=list)
    tenant: str | None = None  # the tenant a request with this key acts for when it names none

    def __repr__(self) -> str:  # the hash is not the key, but nothing about a credential is logged
        return f"ApiKeyConfig(name={self.name!r}, tenants={self.tenants!r})"


class ApiConfig(BaseConfig):
    """The `API` section: where the REST API listens and how it answers."""

    __aliases__ = {"IS_DEBUG": "debug", "DOC_URL": "docs_url", "ORIGINS": "cors_origins"}
    __retired__ = {
        "AUTHORIZATIONS": "the OpenAPI page describes what API.AUTHENTICATION (none, api_key, bearer) asks for",
        "SECURITY": "write API.AUTHENTICATION (none, api_key, bearer) and API.KEYS",
    }

    host: str = "127.0.0.1"
    port: int = 5000
    base_url: str = "/api"
    docs_url: str = "/api/docs"
    envelope: bool = False
    debug: bool = False
    title: str = "pdip API"
    version: str = "1.0"
    docs: bool = True
    namespaces: bool = False
    cors_origins: list[str] = dataclasses.field(default_factory=list)
    max_body_bytes: int = 1_048_576
    max_page_size: int = 1000
    workers: int = 2
    threads: int = 8
    authentication: Literal["none", "api_key", "bearer"] = "none"
    api_key_header: str = "X-API-Key"
    keys: list[ApiKeyConfig] = dataclasses.field(default_factory=list)
    tenant_header: str = "X-Tenant-Id"
    tenant_required: bool = False
    error_status: dict[str, int] = dataclasses.field(default_factory=dict)
    executions: bool = True
    execution_workers: int = 2
    runs: bool = True  # the run history pages at /runs (with EXECUTIONS and the integrator extra)
    metrics: bool = True  # /metrics in the Prometheus text format (the metrics extra)
