"""A SOAP operation's answer as rows, through zeep: `kind: soap`.

    source: {kind: soap, wsdl: "https://erp.example.com/orders?wsdl", operation: ListOrders,
             arguments: {status: open}, records: orders.order, username: etl, password: "${ERP_PASSWORD}"}

The source calls one operation of the WSDL once per run with `arguments`, and `records` (dotted
names into the answer, as zeep hands it back) points at the repeated element whose items are the
rows; each item's child elements are the columns. Their types are the WSDL's: the XSD type of
each child is named in the one type map's file names (`xsd:int` is `int`, `xsd:dateTime`
`datetime`), so a target creates its table from the WSDL, not from the first answer. A child
that is itself a structure or a list is kept as zeep's value made plain (dicts and lists).

The whole answer arrives in one response and is cut into batches of `batch_size`; a batch's
position is the number of records read, and an incremental read keeps the records whose cursor
is above the high-watermark. Credentials (`username`, `password`: HTTP basic) go to the HTTP
session only; every failure (a WSDL that does not load, an endpoint that does not answer, a
fault, a `records` path that matches nothing) is an `OperationError` naming the connection and
the setting to look at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pdip.configuration.settings import Setting, names
from pdip.conversion import ConversionError, convert
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError, needs, refuse_unknown
from pdip.integrator.types import ColumnTypes, named_types

SETTINGS = (
    Setting("wsdl", str, required=True, help="the WSDL's URL or file"),
    Setting("operation", str, required=True, help="the operation called"),
    Setting("arguments", dict[str, Any], help="the operation's arguments by name"),
    Setting("records", str, help="dotted names of the repeated element whose items are the rows (default: the answer)"),
    Setting("service", str, help="the WSDL's service (default: the first)"),
    Setting("port", str, help="the service's port (default: the first)"),
    Setting("address", str, help="the endpoint called, instead of the WSDL's"),
    Setting("username", str, help="HTTP basic user"),
    Setting("password", str, secret=True, help="HTTP basic password"),
    Setting("timeout", float, default=30.0, help="seconds to wait for the WSDL and for the answer"),
)

# XSD's built-in types by the names of the one type map (`pdip.integrator.types`); others are
# left to their values.
XSD_TYPES = {
    **dict.fromkeys(("int", "integer", "long", "short", "byte", "unsignedInt", "unsignedShort", "unsignedByte"), "int"),
    **dict.fromkeys(("nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger"), "int"),
    **dict.fromkeys(("double", "float"), "float"),
    "decimal": "decimal",
    "boolean": "bool",
    **dict.fromkeys(("string", "normalizedString", "token", "anyURI"), "text"),
    "date": "date",
    "dateTime": "datetime",
}


@dataclasses.dataclass(frozen=True)
class SoapSettings:
    wsdl: str
    operation: str
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)
    records: str | None = None
    service: str | None = None
    port: str | None = None
    address: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def label_of(connection: Any) -> str:
    return f"soap connection {connection.name!r}" if connection.name else "soap connection"


def soap_settings(connection: Any, label: str) -> SoapSettings:
    raw = {str(key).lower(): value for key, value in connection.settings.items()}
    refuse_unknown(raw, names(SETTINGS), f"{label}: ", "unknown setting for soap connections")
    for required in ("wsdl", "operation"):
        if not str(raw.get(required) or "").strip():
            raise OperationError(f"{label}: {required}: required ({_help(required)})")
    try:
        return convert(raw, SoapSettings, lenient=True)
    except ConversionError as error:
        problems = [f"{label}: {problem.describe()}" for problem in error.problems]
        raise OperationError("; ".join(problems), problems) from None


def _help(name: str) -> str:
    return next(setting.help for setting in SETTINGS if setting.name == name)


def shown(url: str) -> str:
    """A URL without the user and password it may carry."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class SoapSource(Source):
    def __init__(self, connection: Any, context: Any):
        super().__init__(connection, context)
        self.label = label_of(connection)
        self.settings = soap_settings(connection, self.label)
        self._client: Any = None

    # -- the service ------------------------------------------------------------------------------

    def _wsdl_location(self) -> str:
        wsdl = self.settings.wsdl
        if "://" in wsdl:
            return wsdl
        path = Path(wsdl).expanduser()
        root = getattr(self.context, "root", None)
        return str(path if path.is_absolute() or root is None else Path(root) / path)

    def client(self) -> Any:
        """The zeep client of the WSDL, loaded once; failures name the `wsdl` setting."""
        if self._client is not None:
            return self._client
        zeep = needs("zeep", "soap connections", "soap")
        import requests
        from zeep.transports import Transport

        session = requests.Session()
        if self.settings.username is not None or self.settings.password is not None:
            session.auth = (self.settings.username or "", self.settings.password or "")
        transport = Transport(session=session, timeout=self.settings.timeout, operation_timeout=self.settings.timeout)
        location = self._wsdl_location()
        try:
            self._client = zeep.Client(location, transport=transport)
        except requests.HTTPError as error:
            session.close()
            raise OperationError(
                f"{self.label}: wsdl: {shown(location)} answered HTTP {error.response.status_code}"
                + self._credentials_hint(error.response.status_code)
            ) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            session.close()
            raise OperationError(f"{self.label}: wsdl: cannot reach {shown(location)} ({_reason(error)})") from None
        except OSError as error:
            session.close()
            said = error.strerror or error
            raise OperationError(f"{self.label}: wsdl: cannot read {shown(location)} ({said})") from None
        except Exception as error:  # noqa: BLE001 - zeep and lxml raise many kinds for a document that is no WSDL
            session.close()
            raise OperationError(
                f"{self.label}: wsdl: {shown(location)} is not a WSDL zeep can load ({type(error).__name__}: {error})"
            ) from None
        return self._client

    def _credentials_hint(self, status: int) -> str:
        if status not in (401, 403):
            return ""
        given = "refused the credentials in" if self.settings.username is not None else "needs credentials:"
        return f"; the service {given} username and password"

    def _port(self) -> Any:
        """The WSDL's port the operation is called on (`service` and `port`, or the first ones)."""
        services = self.client().wsdl.services
        if not services:
            raise OperationError(f"{self.label}: wsdl: {shown(self.settings.wsdl)} declares no service")
        name = self.settings.service or next(iter(services))
        if name not in services:
            raise OperationError(
                f"{self.label}: service: the WSDL has no service {name!r} (it has {', '.join(services)})"
            )
        ports = services[name].ports
        port = self.settings.port or next(iter(ports))
        if port not in ports:
            raise OperationError(f"{self.label}: port: service {name} has no port {port!r} (it has {', '.join(ports)})")
        return ports[port]

    def _operation(self) -> Any:
        """The operation's declaration in the WSDL's binding."""
        binding = self._port().binding
        operations = binding.all()
        if self.settings.operation not in operations:
            raise OperationError(
                f"{self.label}: operation: the WSDL has no operation {self.settings.operation!r} "
                f"(it has {', '.join(sorted(operations))})"
            )
        return operations[self.settings.operation]

    def call(self) -> Any:
        """The operation's answer as plain dicts and lists."""
        import requests
        from zeep.exceptions import Fault, TransportError
        from zeep.helpers import serialize_object

        operation, port = self._operation(), self._port()
        address = self.settings.address or port.binding_options["address"]
        proxy = self.client().create_service(port.binding.name, address)
        where = "address" if self.settings.address else "wsdl (its endpoint)"
        try:
            answer = proxy[operation.name](**self.settings.arguments)
        except TypeError as error:
            raise OperationError(f"{self.label}: arguments: {error}") from None
        except Fault as fault:
            raise OperationError(
                f"{self.label}: operation: {operation.name} answered with a SOAP fault: {fault.message}"
            ) from None
        except TransportError as error:
            raise OperationError(
                f"{self.label}: {where}: {shown(address)} answered HTTP {error.status_code}"
                + self._credentials_hint(error.status_code)
            ) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise OperationError(f"{self.label}: {where}: cannot reach {shown(address)} ({_reason(error)})") from None
        return serialize_object(answer, target_cls=dict)

    # -- reading ---------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """The items `records` points at; one item is one record."""
        found: Any = self.call()
        path = self.settings.records
        for step in path.split(".") if path else ():
            if found is None and self._declared() is not None:
                return []  # an element the WSDL declares, absent or empty in this answer
            if isinstance(found, Mapping) and step in found:
                found = found[step]
            else:
                has = ", ".join(found) if isinstance(found, Mapping) else type(found).__name__
                raise OperationError(
                    f"{self.label}: records: {path!r} matches nothing in the {self.settings.operation} answer "
                    f"(no {step!r}; there: {has or 'nothing'})"
                )
        if found is None:
            return []  # an empty repeated element
        items = found if isinstance(found, list) else [found]
        if not all(isinstance(item, Mapping) for item in items):
            raise OperationError(
                f"{self.label}: records: {path or 'the answer'} holds values, not records with named fields; "
                "point `records` at the repeated element"
            )
        return [dict(item) for item in items]

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        records = self.records()
        declared = self.schema(request)
        columns = list(declared.names) if declared is not None else list(records[0]) if records else []
        if request.cursor is not None and records and request.cursor not in columns:
            raise OperationError(f"{self.label}: cursor {request.cursor!r}: the records have no such field")
        start = int(request.resume or 0)  # a position is how many records were read
        incremental = request.cursor is not None and request.after is not None
        for first in range(start, len(records), request.batch_size):
            chunk = records[first : first + request.batch_size]
            if incremental:
                chunk = [item for item in chunk if _newer(item.get(request.cursor), request.after)]
            rows = [tuple(item.get(column) for column in columns) for item in chunk]
            batch = Batch(columns, rows, position=min(first + request.batch_size, len(records)))
            batch.types = declared
            yield batch

    def schema(self, request: ReadRequest) -> ColumnTypes | None:
        """The columns of a record and their types, as the WSDL declares them; None when the
        path cannot be followed in the declaration (the values then decide)."""
        element = self._declared()
        if element is None:
            return None
        children = getattr(element.type, "elements", None)
        if not children:
            return None
        columns = [name for name, _ in children]
        if request.columns:
            columns = [column for column in request.columns if column in columns]
        kinds = {name: XSD_TYPES.get(_local_name(child.type)) for name, child in children}
        return named_types(columns, {name: kind for name, kind in kinds.items() if kind}, None)

    def _declared(self) -> Any:
        """The WSDL's declaration of the element `records` points at (None: it has none)."""
        element = self._operation().output.body
        for step in self.settings.records.split(".") if self.settings.records else ():
            element = _child(element, step)
            if element is None:
                return None
        return element

    def describe(self) -> str:
        return f"soap:{self.settings.operation}@{shown(self.settings.wsdl)}"

    def close(self) -> None:
        if self._client is not None:
            self._client.transport.session.close()
            self._client = None


def _child(element: Any, name: str) -> Any:
    """The child element `name` of a declared element; zeep hands back the only child of an
    answer in place of the answer, so a path may skip that one."""
    children = dict(getattr(element.type, "elements", None) or ())
    if name in children:
        return children[name]
    if len(children) == 1:
        return _child(next(iter(children.values())), name)
    return None


def _local_name(kind: Any) -> str | None:
    qname = getattr(kind, "qname", None)
    return getattr(qname, "localname", None)


def _newer(value: Any, after: Any) -> bool:
    return value is not None and value > after


def _reason(error: Exception) -> str:
    """The innermost cause of a connection failure, which is what a user can act on."""
    cause: BaseException = error
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    return str(cause) or type(cause).__name__


ADAPTER = Adapter(("soap",), SoapSource, None, Capabilities(), settings=SETTINGS)
