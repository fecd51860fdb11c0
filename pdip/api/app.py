"""`ApiApp`: the application's REST API, a Flask app whose routes are its controllers.

    api = pdi.get(ApiApp)
    api.app                  # the Flask app (a WSGI app: gunicorn, waitress)
    api.test_client()        # Flask's test client
    api.run()                # Flask's development server, on API.HOST and API.PORT

Each controller action is a Flask-Restx resource method, so `/swagger.json` and the Swagger UI
(`API.DOCS_URL`, assets served from the installed package) describe exactly what is served.
A request runs in its own DI scope: authentication, tenant, arguments, the controller built by
the container, the action, the response; any exception becomes a problem-details response.
See docs/adr/0005-api-controllers-served-through-restx-resources.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from flask_restx import Api, Resource
from flask_restx.model import SchemaModel
from werkzeug.exceptions import HTTPException

from pdip.api.base import ControllerBase
from pdip.api.binding import ArgumentReader
from pdip.api.errors import RoutingError
from pdip.api.openapi import PROBLEM, PROBLEM_DEFINITION, Schemas, body_schema, error_codes, parameters
from pdip.api.problems import ProblemMapper
from pdip.api.responses import JSON, PROBLEM_JSON, result_response
from pdip.api.routing import Action, actions_of, controller_name, namespace_of, route_placeholders
from pdip.api.security import (
    TENANT_MAX_LENGTH,
    Authenticator,
    Caller,
    Gate,
    StaticKeys,
    current_caller,
    reset_caller,
    set_caller,
)
from pdip.base import Pdi
from pdip.configuration import DatabaseConfig
from pdip.configuration.models.api import ApiConfig
from pdip.data.tenancy import current_tenant, tenant
from pdip.dependency import Container, ISingleton, MissingBindingError, PdiConfigurationError
from pdip.dependency.planning import is_abstract
from pdip.logging.loggers.console import ConsoleLogger
from pdip.policy.secrets import mask_connection_string
from pdip.tracking.actors import tracking_actor

LOGGER = logging.getLogger(__name__)  # pdip.api.app
_HTTP_METHODS = {"GET": "get", "HEAD": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}


class _Endpoint:
    """One action, ready to serve: its controller, method name and argument reader."""

    __slots__ = ("action", "anonymous", "code", "controller", "method", "reader", "status", "tenanted")

    def __init__(self, action: Action, max_page_size: int):
        self.action = action
        self.controller = action.controller
        self.method = action.method
        self.reader = ArgumentReader(action, max_page_size)
        self.anonymous = bool(getattr(action.controller, "anonymous", False))
        self.tenanted = bool(getattr(action.controller, "tenanted", True))
        self.status = action.status
        self.code = getattr(action.function, "__code__", None)


class _RestxApi(Api):
    """Flask-Restx's Api, with its errors answered as problem details like every other, and a
    spec that says so: problem+json among what every operation produces, and per operation the
    body types it reads (`x-consumes` in the operation's documentation)."""

    problems: ProblemMapper

    def handle_error(self, e):
        return self.problems.response(e)

    @property
    def __schema__(self):
        schema = super().__schema__
        if "error" not in schema and schema.get("produces") != [JSON, PROBLEM_JSON]:
            schema["produces"] = [JSON, PROBLEM_JSON]
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and "x-consumes" in operation:
                        operation["consumes"] = operation.pop("x-consumes")
        return schema


class ApiApp(ISingleton):
    """The REST API of one `Pdi`; built on first `pdi.get(ApiApp)`, routes fixed from then on."""

    def __init__(self, pdi: Pdi, config: ApiConfig, container: Container):
        self.pdi = pdi
        self.config = config
        _check_limits(config)
        self.container = container
        self.envelope = config.envelope
        self.app = Flask(_import_name(pdi), root_path=str(pdi.root_directory))
        self.app.config.update(
            MAX_CONTENT_LENGTH=config.max_body_bytes,
            RESTX_MASK_SWAGGER=False,
            RESTX_INCLUDE_ALL_MODELS=True,
            RESTX_ERROR_404_HELP=False,
            SWAGGER_UI_DOC_EXPANSION="list",
        )
        self.problems = ProblemMapper(
            config.error_status, config.envelope, lambda: container.get(ConsoleLogger), config.max_body_bytes
        )
        self.gate = self._gate()
        self.api = self._restx()
        container.register_factory(Caller, current_caller)  # before controllers that take one are checked
        self.controllers = self._controllers()
        self.endpoints: list[_Endpoint] = []
        self._schemas = Schemas()
        self._namespaces: dict[str, Any] = {}
        self._resources: list[type] = []
        self._route(self.controllers)
        self._serve_runs()
        self._handle_errors()
        self._allow_origins()

    # -- use -------------------------------------------------------------------------------------

    def test_client(self, **kwargs: Any):
        return self.app.test_client(**kwargs)

    def run(self, host: str | None = None, port: int | None = None, **options: Any) -> None:
        """Serve with Flask's development server (use a WSGI server such as gunicorn in production)."""
        options.setdefault("debug", self.config.debug)
        options.setdefault("threaded", True)
        self.app.run(host=host or self.config.host, port=port or self.config.port, **options)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """The WSGI entry point, so `ApiApp` itself can be handed to a WSGI server."""
        return self.app(environ, start_response)

    def warm(self, connections: int) -> None:
        """Build now what the first requests would build: the compiled routes and, when the
        application has a database, `connections` pooled connections to it."""
        self.app.url_map.update()
        if not self.pdi.configuration.has_section(DatabaseConfig):
            return
        import sqlalchemy as sa

        from pdip.data import DatabaseSessionManager

        database = self.pdi.get(DatabaseSessionManager)
        try:
            database.warm(connections)
        except sa.exc.DBAPIError as error:  # a database down must not keep the server from starting
            LOGGER.warning(
                "%r not reached before serving, its first requests will try again: %s",
                database,
                mask_connection_string(str(error.orig)).strip(),
            )

    @property
    def routes(self) -> list[tuple[str, str, str]]:
        """(HTTP method, URL, controller.method) of every action, for a look at what is served."""
        return [
            (endpoint.method.upper(), endpoint.action.url, f"{controller_name(endpoint.controller)}.{endpoint.method}")
            for endpoint in self.endpoints
        ]

    # -- serving -------------------------------------------------------------------------------

    def _serve(self, endpoint: _Endpoint, route_values: dict[str, str]):
        container = self.container
        scope = container.open_scope()
        try:
            caller = self.gate.check(request.headers, endpoint.anonymous, endpoint.tenanted)
            token = set_caller(caller)
            try:
                if caller.tenant_id is None and caller.principal is None and current_tenant() is None:
                    return self._act(endpoint, route_values)  # nothing to set: skip two context managers
                with tenant(caller.tenant_id), _acting(caller):
                    return self._act(endpoint, route_values)
            finally:
                reset_caller(token)
        except Exception as error:  # noqa: BLE001 - every failure is answered as a problem document
            return self.problems.response(error, endpoint.code)
        finally:
            container.close_scope(scope)

    def _act(self, endpoint: _Endpoint, route_values: dict[str, str]):
        arguments = endpoint.reader.read(route_values)
        controller = self.container.get(endpoint.controller)
        result = getattr(controller, endpoint.method)(**arguments)
        return result_response(result, self.envelope, endpoint.status)

    # -- building ------------------------------------------------------------------------------

    def _gate(self) -> Gate:
        config = self.config
        authenticator = None
        if config.authentication != "none":
            authenticator = self._authenticator()
        return Gate(
            config.authentication, authenticator, config.api_key_header, config.tenant_header, config.tenant_required
        )

    def _authenticator(self) -> Callable[[], Authenticator]:
        """The application's Authenticator if discovery found one, else the configured keys."""
        container = self.container
        try:
            container.plan(Authenticator)
        except MissingBindingError as error:
            if "several implementations" in error.reason:
                raise
            if not self.config.keys:
                raise PdiConfigurationError(
                    f"API.AUTHENTICATION is {self.config.authentication} but API.KEYS is empty and no "
                    "Authenticator implementation was found under the application's root"
                ) from None
            keys = StaticKeys(self.config.keys)
            return lambda: keys
        return lambda: container.get(Authenticator)

    def _restx(self) -> _RestxApi:
        config = self.config
        authorizations = security = None
        if config.authentication != "none":
            header = "Authorization" if config.authentication == "bearer" else config.api_key_header
            described = "Bearer <token>" if config.authentication == "bearer" else "an API key"
            authorizations = {
                config.authentication: {"type": "apiKey", "in": "header", "name": header, "description": described}
            }
            security = config.authentication
        api = _RestxApi(
            title=config.title,
            version=config.version,
            doc=config.docs_url if config.docs else False,
            authorizations=authorizations,
            security=security,
        )
        api.problems = self.problems
        api.init_app(self.app, add_specs=config.docs)
        return api

    def _controllers(self) -> list[type]:
        found = [cls for cls in self.pdi.discovered.classes if issubclass(cls, ControllerBase) and not is_abstract(cls)]
        if self.config.executions and _integrator_installed():
            from pdip.api.executions import EXECUTION_CONTROLLERS

            found.extend(EXECUTION_CONTROLLERS)
        from pdip.api.storage import STORAGE_CONTROLLERS, storage_served
        from pdip.storage.stores import StorageConfig

        if storage_served(self.container.get(StorageConfig)):
            found.extend(STORAGE_CONTROLLERS)
        self.container.validate(found)
        return found

    def _serve_runs(self) -> None:
        """The run history pages (`API.RUNS`) and `/metrics` (`API.METRICS`), with the integrator
        endpoints, behind the same credential check; plain Flask routes, not in the Swagger spec."""
        if not (self.config.executions and _integrator_installed()):
            return
        from pdip.api.executions import ExecutionRunner

        if self.config.runs:
            from pdip.api.runs import runs_blueprint

            pages = runs_blueprint(lambda: self.container.get(ExecutionRunner))
            pages.before_request(self._checked)
            self.app.register_blueprint(pages)
        if self.config.metrics:
            from pdip.api.metrics import metrics_view
            from pdip.integrator.base import Integrator

            self.app.add_url_rule(
                "/metrics", "pdip_metrics", metrics_view(self.container.get(Integrator), self._checked)
            )

    def _checked(self):
        """None when the request's credential passes the gate, else the problem document to answer."""
        try:
            self.gate.check(request.headers, anonymous=False, tenanted=False)
        except Exception as error:  # noqa: BLE001 - answered as a problem document, like every action's
            return self.problems.response(error)
        return None

    def _route(self, controllers: list[type]) -> None:
        by_url: dict[str, dict[str, Action]] = {}
        owners: dict[str, type] = {}
        for cls in controllers:
            for action in actions_of(cls, self.config.base_url, self.config.namespaces):
                owner = owners.setdefault(action.url, cls)
                if owner is not cls:
                    raise RoutingError(
                        f"{_label(cls)} and {_label(owner)} are both served at {action.url}; "
                        "rename one or set its `route`"
                    )
                by_url.setdefault(action.url, {})[action.method] = action
        for url, actions in by_url.items():
            self._add_resource(url, actions)
        for name, definition in self._schemas.definitions.items():
            self.api.models[name] = SchemaModel(name, definition)
        self.api.models[PROBLEM] = SchemaModel(PROBLEM, PROBLEM_DEFINITION)

    def _add_resource(self, url: str, actions: dict[str, Action]) -> None:
        cls = next(iter(actions.values())).controller
        endpoints = {method: _Endpoint(action, self.config.max_page_size) for method, action in actions.items()}
        self.endpoints.extend(endpoints.values())
        serve = self._serve

        def dispatch_request(self_, **route_values):
            return serve(endpoints[_HTTP_METHODS[request.method]], route_values)

        attributes: dict[str, Any] = {"dispatch_request": dispatch_request, "init_every_request": False}
        for method, endpoint in endpoints.items():
            attributes[method] = self._documented(endpoint)
        name = f"{controller_name(cls)}Resource{len(self._resources)}"
        resource = type(name, (Resource,), attributes)
        self._resources.append(resource)
        self._namespace(cls).add_resource(resource, url, endpoint=f"pdip_{name}")

    def _documented(self, endpoint: _Endpoint) -> Callable:
        """A stand-in method Flask-Restx reads the operation's Swagger documentation from."""
        action = endpoint.action

        def operation(self_, **route_values):  # pragma: no cover - documentation only; _serve answers
            raise NotImplementedError

        operation.__doc__ = action.function.__doc__
        params = parameters(action, self._schemas, self.config.max_page_size)
        body = body_schema(action, self._schemas)
        if body is not None:
            argument, schema = body
            params["payload"] = {"in": "body", "required": argument.required, "schema": schema}
        tenant_checked = bool(self.config.tenant_header and endpoint.tenanted)
        if tenant_checked:
            params[self.config.tenant_header] = self._tenant_parameter()
        responses = self._responses(action)
        authenticated = self.gate.enabled and not endpoint.anonymous
        for code in error_codes(action, authenticated, tenant_checked):
            responses[code] = ("A problem document (application/problem+json)", PROBLEM)
        responses["default"] = ("Any other error, as a problem document", PROBLEM)
        doc: dict[str, Any] = {"params": params, "id": _operation_id(action), "responses": responses}
        produces = getattr(action.function, "__pdip_produces__", None)
        doc["produces"] = [*(produces or (JSON,)), PROBLEM_JSON]
        if action.body is not None:
            doc["vendor"] = {"x-consumes": [JSON, *action.accepts]}
        if endpoint.anonymous:
            doc["security"] = []
        operation.__apidoc__ = doc
        return operation

    def _tenant_parameter(self) -> dict[str, Any]:
        """The tenant header: any text up to the tenant column's length; when required, not blank."""
        parameter = {
            "in": "header",
            "type": "string",
            "required": self.config.tenant_required,
            "maxLength": TENANT_MAX_LENGTH,
            "description": "the tenant the request acts for",
        }
        if self.config.tenant_required:
            parameter["pattern"] = r"\S"
        return parameter

    def _responses(self, action: Action) -> dict[str, Any]:
        code = action.status
        if self.config.envelope and code == 204:
            code = 200  # an envelope always has a body
        if code == 204:
            return {204: "No content"}
        schema = self._schemas.of(action.returns) if action.returns is not None else {}
        model: Any = None
        if "$ref" in schema:
            model = schema["$ref"].rsplit("/", 1)[-1]
        elif schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            model = [schema["items"]["$ref"].rsplit("/", 1)[-1]]
        if model is None:
            return {code: "Success"}
        if self.config.envelope:
            return {code: ("Success, in the {IsSuccess, Message, Result} envelope", model, {"envelope": "Result"})}
        return {code: ("Success", model)}

    def _namespace(self, cls: type):
        """The Swagger group of a controller: its `tags`, its namespace, or its own name (with
        its docstring's first line as the group's description)."""
        description = None
        if getattr(cls, "tags", None):
            tag = cls.tags[0]
        elif self.config.namespaces and namespace_of(cls):
            tag = namespace_of(cls)
        else:
            tag = controller_name(cls)
            description = cls.__doc__.strip().splitlines()[0] if cls.__doc__ else None
        namespace = self._namespaces.get(tag)
        if namespace is None:
            namespace = self._namespaces[tag] = self.api.namespace(tag, description=description, path="/")
        return namespace

    def _handle_errors(self) -> None:
        problems = self.problems
        self.app.register_error_handler(HTTPException, problems.response)
        self.app.register_error_handler(Exception, problems.response)

    def _allow_origins(self) -> None:
        origins = self.config.cors_origins
        if not origins:
            return
        from flask_cors import CORS

        base = "/" + self.config.base_url.strip("/")
        CORS(self.app, resources={f"{base}/*": {"origins": list(origins)}}, expose_headers=["Location"])


@contextlib.contextmanager
def _acting(caller: Caller):
    """Changes made by an authenticated request are recorded as made by its principal."""
    if caller.principal is None:
        yield
        return
    with tracking_actor(caller.principal.name):
        yield


def _check_limits(config: ApiConfig) -> None:
    """Limits that must be positive to mean anything, named as application.yml spells them."""
    for key in ("max_body_bytes", "max_page_size", "workers", "threads", "execution_workers"):
        value = getattr(config, key)
        if type(value) is not int or value < 1:
            raise PdiConfigurationError(f"API.{key.upper()}: expected a whole number of at least 1, got {value!r}")


def _operation_id(action: Action) -> str:
    """`get_Notes`, `get_Notes_by_id`: unique per method and URL, readable in generated clients."""
    suffix = "".join(f"_by_{name}" for name in route_placeholders(action.url))
    return f"{action.method}_{controller_name(action.controller)}{suffix}"


def _label(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_name(pdi: Pdi) -> str:
    return pdi.root_directory.name or "pdip_api"


def _integrator_installed() -> bool:
    """The execution endpoints come with the integrator extra (its adapters need pyarrow)."""
    return importlib.util.find_spec("pyarrow") is not None
