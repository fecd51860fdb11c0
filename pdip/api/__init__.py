"""The REST API: controllers found by discovery, served by Flask-Restx with Swagger, problem
details for errors, authentication and tenants; needs the `api` extra (`pip install pdip[api]`).

`ApiApp` (and with it Flask) is imported on first use, so a controller module that imports
`ControllerBase` costs discovery nothing.
"""

import importlib
from typing import Any

from pdip.api.base import ControllerBase, FromBody, FromQuery, FromRoute, accepts, produces, status
from pdip.api.errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RoutingError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    error_status,
)
from pdip.api.security import Authenticator, Caller, Credential, Principal, generate_key, hash_key

__all__ = [
    "ApiApp",
    "ApiError",
    "Authenticator",
    "BadRequestError",
    "Caller",
    "ConflictError",
    "ControllerBase",
    "Credential",
    "ForbiddenError",
    "FromBody",
    "FromQuery",
    "FromRoute",
    "NotFoundError",
    "Principal",
    "RoutingError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "accepts",
    "error_status",
    "generate_key",
    "hash_key",
    "produces",
    "status",
]


def __getattr__(name: str) -> Any:
    if name != "ApiApp":
        raise AttributeError(f"module 'pdip.api' has no attribute {name!r}")
    try:
        value = importlib.import_module("pdip.api.app").ApiApp
    except ImportError as error:
        raise ImportError(f"pdip.api.ApiApp needs Flask and Flask-Restx: pip install 'pdip[api]' ({error})") from error
    globals()[name] = value
    return value
