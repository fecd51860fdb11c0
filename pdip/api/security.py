"""Who is calling, and for which tenant.

`API.AUTHENTICATION` chooses where the credential is read: `api_key` (the `X-API-Key` header, or
`API.API_KEY_HEADER`) or `bearer` (`Authorization: Bearer <token>`). It is checked by the
application's own `Authenticator` when one is found by discovery (to check JWTs, or keys kept in
a table), else against `API.KEYS`, which hold only SHA-256 hashes of the keys: keys are random
and long (`generate_key()`), so a fast hash is as good as a slow one and costs microseconds.

The tenant is the `X-Tenant-Id` header (`API.TENANT_HEADER`), else the principal's own tenant.
A principal limited to some tenants gets 403 for any other. The tenant is set for the request
with `pdip.data.tenant()`, so `TenantContext` and every repository see it.
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pdip.api.errors import BadRequestError, ForbiddenError, UnauthorizedError
from pdip.dependency.errors import PdiConfigurationError

TENANT_MAX_LENGTH = 100  # the length of the tenant column of pdip's entities (pdip.data.domain)
_HASH = re.compile(r"^sha256:([0-9a-f]{64})$")
_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("pdip_api_caller", default=None)


@dataclasses.dataclass(frozen=True)
class Credential:
    """A credential as presented: `scheme` is "api_key" or "bearer"; `value` is the secret."""

    scheme: str
    value: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a credential belongs to.

    Args:
        name: recorded as the actor of the changes the request makes.
        tenants: the tenants it may act for; None for any.
        tenant: the tenant it acts for when the request names none (a token's tenant claim).
        claims: anything else the authenticator wants controllers to see.
    """

    name: str
    tenants: frozenset[str] | None = None
    tenant: str | None = None
    claims: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def may_act_for(self, tenant_id: str) -> bool:
        return self.tenants is None or tenant_id in self.tenants


@dataclasses.dataclass(frozen=True)
class Caller:
    """The principal (None without authentication) and tenant of the current request.

    Inject it into a controller or service: `def __init__(self, caller: Caller)`."""

    principal: Principal | None = None
    tenant_id: str | None = None


def current_caller() -> Caller:
    return _CALLER.get() or Caller()


class Authenticator(abc.ABC):
    """Implement it in the application (with `ISingleton`) to check credentials your own way."""

    @abc.abstractmethod
    def authenticate(self, credential: Credential) -> Principal | None:
        """The principal of a valid credential; None for an unknown or invalid one."""


def hash_key(key: str) -> str:
    """What `API.KEYS[].HASH` holds for `key`: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random API key (256 bits, URL-safe text); keep it secret, configure its `hash_key`."""
    return secrets.token_urlsafe(32)


class StaticKeys(Authenticator):
    """Checks credentials against `API.KEYS`: a dictionary lookup of the presented key's hash."""

    def __init__(self, keys: Iterable[Any]):
        self._by_digest: dict[str, Principal] = {}
        for index, key in enumerate(keys):
            match = _HASH.match(str(key.hash).strip().lower())
            if match is None:
                raise PdiConfigurationError(
                    f"API.KEYS[{index}] ({key.name}): HASH: expected 'sha256:' and 64 hex digits "
                    "(pdip.api.hash_key(key) makes one)"
                )
            tenants = frozenset(key.tenants) if key.tenants else None
            self._by_digest[match.group(1)] = Principal(key.name, tenants, key.tenant)

    def authenticate(self, credential: Credential) -> Principal | None:
        digest = hashlib.sha256(credential.value.encode("utf-8")).hexdigest()
        return self._by_digest.get(digest)


class Gate:
    """Authenticates a request and decides its tenant; raises 401, 403 or 400 problems."""

    def __init__(
        self,
        scheme: str,
        authenticator: Callable[[], Authenticator] | None = None,
        api_key_header: str = "X-API-Key",
        tenant_header: str | None = "X-Tenant-Id",
        tenant_required: bool = False,
    ):
        self.scheme = scheme
        self.authenticator = authenticator  # resolved per request: the application's may be IScoped
        self.api_key_header = api_key_header
        self.tenant_header = tenant_header
        self.tenant_required = tenant_required

    @property
    def enabled(self) -> bool:
        return self.scheme != "none"

    def check(self, headers: Mapping[str, str], anonymous: bool = False, tenanted: bool = True) -> Caller:
        principal = None
        if self.enabled and not anonymous:
            principal = self._principal(headers)
        return Caller(principal, self._tenant(headers, principal) if tenanted else None)

    def _principal(self, headers: Mapping[str, str]) -> Principal:
        credential = self._credential(headers)
        if credential is None:
            raise UnauthorizedError(f"this API needs {self._expected()}", headers=self._challenge())
        principal = self.authenticator().authenticate(credential)
        if principal is None:
            raise UnauthorizedError("the credential is not valid", headers=self._challenge())
        return principal

    def _credential(self, headers: Mapping[str, str]) -> Credential | None:
        if self.scheme == "bearer":
            kind, _, token = (headers.get("Authorization") or "").strip().partition(" ")
            token = token.strip()
            return Credential("bearer", token) if kind.lower() == "bearer" and token else None
        key = (headers.get(self.api_key_header) or "").strip()
        return Credential("api_key", key) if key else None

    def _tenant(self, headers: Mapping[str, str], principal: Principal | None) -> str | None:
        named = (headers.get(self.tenant_header) or "").strip() if self.tenant_header else ""
        if len(named) > TENANT_MAX_LENGTH:
            raise BadRequestError(f"the {self.tenant_header} header is longer than {TENANT_MAX_LENGTH} characters")
        if named:
            if principal is not None and not principal.may_act_for(named):
                raise ForbiddenError(f"{principal.name} may not act for tenant {named!r}")
            return named
        tenant_id = principal.tenant if principal is not None else None
        if tenant_id is None and self.tenant_required:
            raise BadRequestError(f"the {self.tenant_header} header is required")
        return tenant_id

    def _expected(self) -> str:
        return "a bearer token (Authorization: Bearer ...)" if self.scheme == "bearer" else self.api_key_header

    def _challenge(self) -> dict[str, str]:
        if self.scheme == "bearer":
            return {"WWW-Authenticate": 'Bearer realm="api"'}
        return {"WWW-Authenticate": f'ApiKey realm="api", header="{self.api_key_header}"'}


def set_caller(caller: Caller) -> contextvars.Token:
    return _CALLER.set(caller)


def reset_caller(token: contextvars.Token) -> None:
    _CALLER.reset(token)
