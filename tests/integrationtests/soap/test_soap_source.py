"""`kind: soap` through whole operations, against a SOAP service on a loopback port
(tests/support/soap_service.py): records and their WSDL types, batches, incremental runs, HTTP
basic credentials, and every kind of bad input told with the connection and the setting."""

import contextlib
import datetime as dt
import io
import sys
import tempfile
import unittest
import uuid
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pyarrow.parquet

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation, OperationError, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.events import Event
from pdip.integrator.results import RunContext
from tests.support.kafka_broker import free_port
from tests.support.soap_service import USER, SoapService

UTC = dt.timezone.utc


def orders(*numbers: int, status: str = "open") -> list[dict]:
    return [
        {
            "id": number,
            "customer": f"customer {number} & co",
            "amount": f"{number}0.25",
            "paid": number % 2 == 0,
            "placed": f"2026-03-0{number % 9 + 1}T10:00:00Z" if number != 3 else None,
            "status": status,
        }
        for number in numbers
    ]


class SoapSourceTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-soap-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.events: list[Event] = []
        self.integrator.subscribe(Event, self.events.append)
        self.printed = io.StringIO()
        self.service = SoapService(orders(1, 2, 3, 4, 5) + orders(6, status="closed")).start()
        self.addCleanup(self.service.stop)

    def soap(self, **settings) -> Connection:
        return Connection(
            "soap",
            {
                "wsdl": self.service.wsdl_url,
                "operation": "ListOrders",
                "arguments": {"status": "open"},
                "records": "orders.order",
                **settings,
            },
        )

    def run_one(self, integration: Integration, operation: str = "soap"):
        with contextlib.redirect_stdout(self.printed), contextlib.redirect_stderr(self.printed):
            return self.integrator.integrate(Operation(operation, [integration], executor="inline"))

    def to_memory(self, source: Connection, **options):
        return self.run_one(
            Integration("orders", source=source, target=Connection("memory", {"store": "o"}), **options)
        )

    def test_the_records_of_an_answer_land_with_their_values_typed_by_the_wsdl(self):
        result = self.to_memory(self.soap(), batch_size=2)
        self.assertTrue(result.ok, result["orders"].error)
        rows = self.integrator.stores["o"]
        self.assertEqual([row["id"] for row in rows], [1, 2, 3, 4, 5])
        self.assertEqual(
            rows[0],
            {
                "id": 1,
                "customer": "customer 1 & co",
                "amount": Decimal("10.25"),
                "paid": False,
                "placed": dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            },
        )
        self.assertIsNone(rows[2]["placed"])  # xsi:nil
        self.assertEqual(self.service.calls, 1)  # one call, cut into three batches
        checkpoint = self.pdi.get(StateStore).checkpoint("soap", "orders")
        self.assertEqual(checkpoint.positions, {"": 5})

    def test_a_parquet_target_is_made_of_the_wsdl_types_even_when_the_answer_is_empty(self):
        for status, name in (("open", "orders"), ("nobody", "empty")):
            result = self.run_one(
                Integration(
                    name,
                    source=self.soap(arguments={"status": status}),
                    target=Connection("parquet", {"path": f"out/{name}.parquet"}),
                )
            )
            self.assertTrue(result.ok, result[name].error)
            schema = pyarrow.parquet.read_schema(self.root / f"out/{name}.parquet")
            types = {field.name: str(field.type) for field in schema}
            self.assertEqual(types["id"], "int64")
            self.assertEqual(types["paid"], "bool")
            self.assertEqual(types["customer"], "string")
            self.assertEqual(types["placed"], "timestamp[us, tz=UTC]")

    def test_an_incremental_run_keeps_only_the_records_above_the_high_watermark(self):
        integration = Integration(
            "orders", source=self.soap(), target=Connection("memory", {"store": "o"}), mode="incremental", cursor="id"
        )
        self.assertTrue(self.run_one(integration).ok)
        self.service.orders.extend(orders(7, 8))
        again = self.run_one(integration)
        self.assertTrue(again.ok, again["orders"].error)
        self.assertEqual(again["orders"].rows_written, 2)
        self.assertEqual([row["id"] for row in self.integrator.stores["o"]], [1, 2, 3, 4, 5, 7, 8])

    def test_a_resumed_read_starts_after_the_records_read_and_chosen_columns_are_kept(self):
        source = AdapterRegistry().source(self.soap(), RunContext(self.integrator.stores, "x", self.root))
        self.addCleanup(source.close)
        batches = list(source.read(ReadRequest(2, columns=["id", "paid"], resume=2)))
        self.assertEqual([batch.position for batch in batches], [4, 5])
        self.assertEqual([row for batch in batches for row in batch], [(3, False), (4, True), (5, False)])
        self.assertEqual(source.describe(), f"soap:ListOrders@{self.service.wsdl_url}")

    def test_http_basic_credentials_are_sent_and_refused_ones_are_named_without_the_password(self):
        self.service.password = "right-password"
        result = self.to_memory(self.soap(username=USER, password="right-password"))
        self.assertTrue(result.ok, result["orders"].error)
        secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
        for settings, said in (
            ({"username": USER, "password": secret}, "refused the credentials in username and password"),
            ({}, "needs credentials: username and password"),
        ):
            with self.subTest(settings=list(settings)):
                error = self.failure(self.soap(**settings))
                self.assertIn(f"soap connection: wsdl: {self.service.wsdl_url} answered HTTP 401", error)
                self.assertIn(said, error)
                self.assertNotIn(secret, error)
        self.assertNotIn(secret, self.printed.getvalue())
        for event in self.events:
            self.assertNotIn(secret, repr(event))

    def test_credentials_in_the_wsdl_url_are_not_shown_and_an_endpoint_that_refuses_them_is_named(self):
        self.service.password = "url-password"
        wsdl = self.service.wsdl_url.replace("http://", f"http://{USER}:url-password@")
        source = AdapterRegistry().source(self.soap(wsdl=wsdl), RunContext(self.integrator.stores, "x", self.root))
        self.addCleanup(source.close)
        self.assertEqual(source.describe(), f"soap:ListOrders@{self.service.wsdl_url}")
        error = self.failure(self.soap(wsdl=wsdl))  # the WSDL loads; its endpoint is called without them
        self.assertIn(f"soap connection: wsdl (its endpoint): {self.service.url} answered HTTP 401", error)
        self.assertNotIn("url-password", error)

    def test_an_empty_answer_and_a_cursor_the_records_lack(self):
        result = self.to_memory(self.soap(arguments={"status": "nobody"}, records="orders"))
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(result["orders"].rows_read, 0)
        error = self.failure_of(self.soap(), mode="incremental", cursor="nope")
        self.assertIn("soap connection: cursor 'nope': the records have no such field", error)

    # -- bad input -------------------------------------------------------------------------------

    def failure_of(self, source: Connection, **options) -> str:
        result = self.to_memory(source, **options)
        self.assertEqual(result.status, "failed")
        return result["orders"].error

    def test_a_wsdl_that_answers_an_http_error_or_declares_no_service_or_zeep_that_is_missing(self):
        missing = self.service.url + "/nothing"
        self.assertIn(f"soap connection: wsdl: {missing} answered HTTP 404", self.failure(self.soap(wsdl=missing)))
        (self.root / "bare.wsdl").write_bytes(self.service.wsdl().split(b"<service ")[0] + b"</definitions>")
        self.assertIn("soap connection: wsdl: bare.wsdl declares no service", self.failure(self.soap(wsdl="bare.wsdl")))
        with mock.patch.dict(sys.modules, {"zeep": None}):
            error = self.failure(self.soap())
        self.assertIn("soap connections need the zeep package: pip install 'pdip[soap]'", error)

    def failure(self, source: Connection) -> str:
        result = self.to_memory(source)
        self.assertEqual(result.status, "failed")
        self.assertNotIn("Traceback", result["orders"].error)
        return result["orders"].error

    def test_a_wsdl_that_does_not_answer_or_does_not_load_names_the_wsdl_setting(self):
        nowhere = f"http://127.0.0.1:{free_port()}/orders?wsdl"
        self.assertIn(f"soap connection: wsdl: cannot reach {nowhere}", self.failure(self.soap(wsdl=nowhere)))
        (self.root / "broken.wsdl").write_text("<definitions><not closed")
        error = self.failure(self.soap(wsdl="broken.wsdl"))
        self.assertIn(f"soap connection: wsdl: {self.root / 'broken.wsdl'} is not a WSDL zeep can load", error)
        error = self.failure(self.soap(wsdl="missing.wsdl"))
        self.assertIn(f"soap connection: wsdl: cannot read {self.root / 'missing.wsdl'}", error)

    def test_an_endpoint_that_does_not_answer_names_the_address(self):
        address = f"http://127.0.0.1:{free_port()}/orders"
        error = self.failure(self.soap(address=address))
        self.assertIn(f"soap connection: address: cannot reach {address}", error)
        with SoapService([], address=address) as elsewhere:  # a WSDL naming an endpoint that is gone
            error = self.failure(self.soap(wsdl=elsewhere.wsdl_url))
        self.assertIn(f"soap connection: wsdl (its endpoint): cannot reach {address}", error)

    def test_an_operation_a_service_or_a_port_the_wsdl_lacks_is_named_with_what_it_has(self):
        cases = (
            ({"operation": "ListOrderz"}, "operation: the WSDL has no operation 'ListOrderz' (it has ListOrders)"),
            ({"service": "Nope"}, "service: the WSDL has no service 'Nope' (it has OrdersService)"),
            ({"port": "Nope"}, "port: service OrdersService has no port 'Nope' (it has OrdersPort)"),
            ({"arguments": {"colour": "red"}}, "arguments: "),
        )
        for settings, said in cases:
            with self.subTest(settings=settings):
                self.assertIn(f"soap connection: {said}", self.failure(self.soap(**settings)))

    def test_a_records_path_that_matches_nothing_or_holds_no_records_is_named(self):
        error = self.failure(self.soap(records="orders.orderz"))
        self.assertIn("soap connection: records: 'orders.orderz' matches nothing in the ListOrders answer", error)
        self.assertIn("no 'orderz'; there: order", error)
        error = self.failure(self.soap(records="total"))
        self.assertIn("records: total holds values, not records with named fields", error)

    def test_a_fault_names_the_operation_and_says_what_the_service_said(self):
        error = self.failure(self.soap(arguments={"status": "fault"}))
        self.assertIn(
            "soap connection: operation: ListOrders answered with a SOAP fault: the order book is closed", error
        )

    def test_settings_are_checked_before_anything_is_called(self):
        for settings, said in (
            ({"wsdl": ""}, "soap connection: wsdl: required"),
            ({"timeout": "soon"}, "soap connection: timeout: expected"),
            ({"recrods": "x"}, "did you mean records?"),
        ):
            with self.subTest(settings=settings), self.assertRaises(OperationError) as raised:
                AdapterRegistry().source(self.soap(**settings), RunContext(self.integrator.stores, "x", self.root))
            self.assertIn(said, str(raised.exception))
        self.assertEqual(self.service.calls, 0)

    def test_soap_connections_cannot_be_written_to(self):
        with self.assertRaises(OperationError) as raised:
            AdapterRegistry().target(self.soap(), RunContext(self.integrator.stores, "x", self.root))
        self.assertIn("soap connections cannot be written to", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
