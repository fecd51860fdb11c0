"""A small SOAP 1.1 service on a loopback port, for the `kind: soap` source's tests.

    with SoapService(orders=[...], password="pw") as service:
        Connection("soap", {"wsdl": service.wsdl_url, "operation": "ListOrders", ...})

Its WSDL (document/literal) is written here by hand and served at `/orders?wsdl`; `ListOrders`
answers every order of the status asked for, `status: fault` answers a SOAP fault, and with a
`password` every request needs HTTP basic credentials (user `reader`). The requests are parsed
with the standard library: the service is a fixture, the client under test is zeep.
"""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

HOST = "127.0.0.1"
NAMESPACE = "urn:pdip:test:orders"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
USER = "reader"

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{ns}" targetNamespace="{ns}" name="Orders">
  <types>
    <xsd:schema targetNamespace="{ns}" elementFormDefault="qualified">
      <xsd:complexType name="Order">
        <xsd:sequence>
          <xsd:element name="id" type="xsd:int"/>
          <xsd:element name="customer" type="xsd:string"/>
          <xsd:element name="amount" type="xsd:decimal"/>
          <xsd:element name="paid" type="xsd:boolean"/>
          <xsd:element name="placed" type="xsd:dateTime" minOccurs="0" nillable="true"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:element name="ListOrders">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="status" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="ListOrdersResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="total" type="xsd:int"/>
          <xsd:element name="orders">
            <xsd:complexType><xsd:sequence>
              <xsd:element name="order" type="tns:Order" minOccurs="0" maxOccurs="unbounded"/>
            </xsd:sequence></xsd:complexType>
          </xsd:element>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="ListOrdersInput"><part name="parameters" element="tns:ListOrders"/></message>
  <message name="ListOrdersOutput"><part name="parameters" element="tns:ListOrdersResponse"/></message>
  <portType name="OrdersPortType">
    <operation name="ListOrders">
      <input message="tns:ListOrdersInput"/>
      <output message="tns:ListOrdersOutput"/>
    </operation>
  </portType>
  <binding name="OrdersBinding" type="tns:OrdersPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="ListOrders">
      <soap:operation soapAction="{ns}#ListOrders"/>
      <input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="OrdersService">
    <port name="OrdersPort" binding="tns:OrdersBinding"><soap:address location="{address}"/></port>
  </service>
</definitions>
"""


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{ENVELOPE}">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def _order(order: dict[str, Any]) -> str:
    placed = order.get("placed")
    when = "<placed xsi:nil='true' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'/>"
    if placed is not None:
        when = f"<placed>{placed}</placed>"
    return (
        f"<order><id>{order['id']}</id><customer>{escape(order['customer'])}</customer>"
        f"<amount>{order['amount']}</amount><paid>{str(order['paid']).lower()}</paid>{when}</order>"
    )


class SoapService:
    """The service on a free loopback port, answering from `orders` (dicts with id, customer,
    amount, paid, status and optionally placed); `calls` counts the operations it answered."""

    def __init__(self, orders: list[dict[str, Any]], password: str | None = None, address: str | None = None):
        self.orders, self.password, self.calls = orders, password, 0
        self._address = address  # the endpoint the WSDL names (another one: an unreachable service)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/orders"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}?wsdl"

    def start(self) -> SoapService:
        self._server = ThreadingHTTPServer((HOST, 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> SoapService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wsdl(self) -> bytes:
        return WSDL.format(ns=NAMESPACE, address=self._address or self.url).encode()

    def answer(self, request: bytes) -> bytes:
        self.calls += 1
        status = ElementTree.fromstring(request).find(f".//{{{NAMESPACE}}}status").text
        if status == "fault":
            return _envelope(
                "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>the order book is closed</faultstring>"
                "</soap:Fault>"
            )
        chosen = [order for order in self.orders if order["status"] == status]
        body = "".join(_order(order) for order in chosen)
        return _envelope(
            f"<ListOrdersResponse xmlns='{NAMESPACE}'><total>{len(chosen)}</total><orders>{body}</orders>"
            "</ListOrdersResponse>"
        )

    def authorised(self, header: str | None) -> bool:
        if self.password is None:
            return True
        expected = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"


def _handler(service: SoapService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.authorised():
                return
            if self.path.endswith("?wsdl"):
                self.reply(200, service.wsdl(), "text/xml")
            else:
                self.reply(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            if not self.authorised():
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = service.answer(body)
            self.reply(500 if b"soap:Fault" in answer else 200, answer, "text/xml; charset=utf-8")

        def authorised(self) -> bool:
            if service.authorised(self.headers.get("Authorization")):
                return True
            self.reply(401, b"credentials required", "text/plain", {"WWW-Authenticate": 'Basic realm="orders"'})
            return False

        def reply(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Quiet: the tests' output is theirs."""

    return Handler
