"""A REST source against a real local HTTP server (`tests/support/http_server.py`): every paging
style, resuming, incremental reads, retries and Retry-After, a request rate, and bad input."""

import contextlib
import io
import tempfile
import time
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, StateStore
from pdip.integrator.base import Integrator
from pdip.integrator.events import BatchWritten, Event
from tests.support.http_server import RowServer, serve

ORDERS = [{"id": i, "amount": f"{i}.50", "label": f"order {i}"} for i in range(1, 131)]
FAST = {"retries": 2, "backoff": 0.01, "max_backoff": 0.05}  # short waits: the tests stay quick


def styles(base: str) -> dict[str, dict]:
    """A connection's settings for each paging style of the server, pages of 40 rows."""
    return {
        "page": {
            "url": f"{base}/page/orders",
            "records": "data",
            "paginate": {"page": {"size_param": "size", "size": 40}},
        },
        "offset": {"url": f"{base}/offset/orders", "records": "items", "paginate": {"offset": {"limit": 40}}},
        "cursor": {
            "url": f"{base}/cursor/orders",
            "records": "results",
            "params": {"size": 40},
            "paginate": {"cursor": {"param": "after", "path": "meta.next"}},
        },
        "next": {"url": f"{base}/next/orders?size=40", "records": "data.rows", "paginate": {"next": "links.next"}},
        "link": {"url": f"{base}/link/orders", "params": {"size": 40}, "paginate": "link"},
    }


class RestServerCase(unittest.TestCase):
    auth = None

    @classmethod
    def setUpClass(cls):
        cls.server = RowServer(cls.auth)
        cls._serving = serve(cls.server)
        cls.base = cls._serving.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._serving.__exit__(None, None, None)

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="pdip-rest-")
        self.addCleanup(folder.cleanup)
        self.pdi = Pdi(root_directory=Path(folder.name))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.events = []
        self.integrator.subscribe(Event, self.events.append)
        self.printed = io.StringIO()
        self.server.tables.clear()
        self.server.faults.clear()
        self.server.requests.clear()

    def copy(self, settings: dict, name: str = "copy", resume: bool = False, executor: str = "inline", **options):
        integration = Integration(
            "orders",
            source=Connection("rest", {**FAST, **settings}, name="shop"),
            target=Connection("memory", {"store": "copy"}),
            **options,
        )
        with contextlib.redirect_stdout(self.printed), contextlib.redirect_stderr(self.printed):
            return self.integrator.integrate(Operation(name, [integration], executor=executor), resume=resume)

    def copied(self) -> list[dict]:
        return self.integrator.stores.records("copy")

    def letters(self, result) -> list[dict]:
        return self.pdi.get(StateStore).dead_letters(result.execution_id)

    def failed(self, settings: dict, **options) -> str:
        result = self.copy(settings, **options)
        self.assertEqual(result.status, "failed")
        error = result["orders"].error
        self.assertNotIn("Traceback", error)
        return error


class PagingTest(RestServerCase):
    def test_every_paging_style_reads_every_row_once_in_order(self):
        self.server.tables["orders"] = ORDERS
        for style, settings in styles(self.base).items():
            with self.subTest(style=style):
                self.server.requests.clear()
                result = self.copy(settings, name=style, batch_size=25, truncate_target=True)
                self.assertTrue(result.ok, result["orders"].error)
                self.assertEqual(self.copied(), ORDERS)
                # 130 rows in pages of 40: four pages; counted styles ask once more, for an empty page
                self.assertEqual(len(self.server.requests), 5 if style in ("page", "offset") else 4)

    def test_without_paginate_one_request_reads_the_body(self):
        self.server.tables["orders"] = ORDERS[:3]
        result = self.copy({"url": f"{self.base}/all/orders"}, executor="process")
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual((self.copied(), len(self.server.requests)), (ORDERS[:3], 1))

    def test_a_run_interrupted_mid_page_resumes_in_every_style_without_duplicates(self):
        self.server.tables["orders"] = ORDERS
        for style, settings in styles(self.base).items():
            with self.subTest(style=style):
                self.integrator.stores["copy"] = []
                batches = []

                def interrupt(event, batches=batches):
                    batches.append(event.rows)
                    if len(batches) == 2:
                        raise KeyboardInterrupt  # 60 rows durable: half-way through the second page

                self.integrator.subscribe(BatchWritten, interrupt)
                stopped = self.copy(settings, name=f"resume-{style}", batch_size=30)
                self.assertEqual((stopped.status, len(self.copied())), ("interrupted", 60))
                batches.append("resumed")
                resumed = self.copy(settings, name=f"resume-{style}", resume=True, batch_size=30)
                self.assertTrue(resumed.ok, resumed["orders"].error)
                self.assertEqual(resumed["orders"].rows_read, 70)
                self.assertEqual(self.copied(), ORDERS)

    def test_an_incremental_read_sends_the_watermark_and_keeps_only_newer_rows(self):
        self.server.tables["orders"] = [{"id": i, "updated": i * 10} for i in range(1, 6)]
        settings = {"url": f"{self.base}/all/orders", "incremental": {"param": "since", "start": 0}}
        first = self.copy(settings, mode="incremental", cursor="updated")
        self.assertEqual(first["orders"].rows_read, 5)
        self.assertTrue(self.server.requests[0].path.endswith("?since=0"), self.server.requests[0].path)
        self.server.tables["orders"].append({"id": 6, "updated": 60})
        second = self.copy(settings, mode="incremental", cursor="updated")
        self.assertEqual(second["orders"].rows_read, 1)
        self.assertTrue(self.server.requests[-1].path.endswith("?since=50"))
        # a server that ignores the parameter: the rows at or below the watermark are left out here
        ignored = self.copy(
            {**settings, "incremental": {"param": "changed_after"}}, mode="incremental", cursor="updated"
        )
        self.assertEqual((ignored["orders"].rows_read, self.copied()[-1]), (0, {"id": 6, "updated": 60}))

    def test_columns_and_types_shape_the_rows_and_a_page_may_hold_one_object(self):
        self.server.tables["orders"] = ORDERS[:2]
        settings = {"url": f"{self.base}/all/orders", "columns": ["id", "amount"], "types": {"amount": "decimal"}}
        result = self.copy(settings)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual([type(row["amount"]).__name__ for row in self.copied()], ["Decimal", "Decimal"])
        self.assertEqual(list(self.copied()[0]), ["id", "amount"])
        one = self.copy({"url": f"{self.base}/all/orders", "records": "0"}, truncate_target=True)
        self.assertEqual((one["orders"].rows_read, self.copied()), (1, ORDERS[:1]))

    def test_an_empty_endpoint_reads_nothing_and_a_null_list_is_empty(self):
        result = self.copy({"url": f"{self.base}/page/orders", "records": "data", "paginate": "page"})
        self.assertEqual((result.ok, result["orders"].rows_read), (True, 0))
        self.server.tables["orders"] = [{"id": 1, "tags": None}]
        result = self.copy({"url": f"{self.base}/all/orders", "records": "0.tags"})
        self.assertEqual((result.ok, result["orders"].rows_read), (True, 0))


class RetriesTest(RestServerCase):
    def test_503_and_429_are_retried_after_the_wait_retry_after_asks_for(self):
        self.server.tables["orders"] = ORDERS[:5]
        self.server.fault(503, headers={"Retry-After": "1"})
        self.server.fault(429, headers={"Retry-After": "0"})
        result = self.copy({"url": f"{self.base}/all/orders", "max_backoff": 5})
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.copied(), ORDERS[:5])
        asked = self.server.requests
        self.assertEqual(len(asked), 3)
        self.assertGreaterEqual(asked[1].at - asked[0].at, 0.95)  # Retry-After: 1 was honoured
        self.assertLess(asked[2].at - asked[1].at, 0.5)

    def test_a_wait_is_never_longer_than_max_backoff(self):
        self.server.tables["orders"] = ORDERS[:5]
        self.server.fault(503, headers={"Retry-After": "120"})
        started = time.monotonic()
        self.assertTrue(self.copy({"url": f"{self.base}/all/orders"}).ok)
        self.assertLess(time.monotonic() - started, 2)

    def test_a_server_that_keeps_failing_fails_the_run_naming_the_request_and_the_tries(self):
        self.server.fault(503, times=10)
        error = self.failed({"url": f"{self.base}/all/orders"})
        self.assertIn(f"rest connection 'shop': url: GET {self.base}/all/orders failed after 3 tries: HTTP 503", error)

    def test_an_unreachable_url_fails_after_its_retries_naming_the_connection_and_setting(self):
        with serve(RowServer()) as gone:
            pass  # served and stopped: nothing listens on its port now
        error = self.failed({"url": f"{gone}/all/orders"}, executor="process")
        self.assertIn(f"rest connection 'shop': url: GET {gone}/all/orders failed after 3 tries: ConnectError", error)

    def test_a_rate_spaces_the_requests(self):
        self.server.tables["orders"] = ORDERS
        settings = {**styles(self.base)["offset"], "rate": 20}
        self.assertTrue(self.copy(settings).ok)
        starts = [asked.at for asked in self.server.requests]
        self.assertEqual(len(starts), 5)
        # 20 a second: the fifth starts 200 ms after the first at least (arrivals jitter a little)
        self.assertGreaterEqual(starts[-1] - starts[0], 0.17, starts)


class BadInputTest(RestServerCase):
    def test_a_page_that_is_not_json_is_dead_lettered_and_the_read_goes_on(self):
        self.server.tables["orders"] = ORDERS
        self.server.fault(200, "<html>maintenance</html>", when=lambda request: request.args.get("page") == "2")
        result = self.copy(styles(self.base)["page"], max_errors=1)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.copied(), ORDERS[:40] + ORDERS[80:])
        [letter] = self.letters(result)
        self.assertIn("page 2 (", letter["reason"])
        self.assertIn("is not JSON (text/html", letter["reason"])
        self.assertEqual(letter["row"]["body"], "<html>maintenance</html>")
        self.assertEqual(letter["position"]["params"], {"page": 2, "size": 40})

    def test_a_page_that_is_not_json_but_holds_the_next_address_stops_the_read_with_a_clear_error(self):
        self.server.tables["orders"] = ORDERS
        self.server.fault(200, "oops", when=lambda request: request.args.get("from") == "40")
        error = self.failed(styles(self.base)["next"])
        self.assertIn("rest connection 'shop': paginate: page 2 (", error)
        self.assertIn("is not JSON (text/html), and it holds the next page's address", error)

    def test_rows_that_are_not_objects_lack_fields_or_do_not_convert_are_dead_lettered(self):
        self.server.tables["orders"] = [
            {"id": 1, "amount": "1.5"},
            7,
            {"id": 3},
            {"id": 4, "amount": "x"},
            {"id": 5, "amount": "2", "extra": 1},
        ]
        result = self.copy({"url": f"{self.base}/all/orders", "types": {"amount": "decimal"}}, max_errors=4)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual([row["id"] for row in self.copied()], [1])
        reasons = [letter["reason"] for letter in self.letters(result)]
        self.assertEqual(reasons[0], "expected a JSON object, got int")
        self.assertEqual(reasons[1], "missing field 'amount' (a NULL is sent as null)")
        self.assertEqual(reasons[2], "field 'amount': expected decimal, got 'x'")
        self.assertTrue(reasons[3].startswith("unexpected field 'extra'"), reasons[3])
        self.assertEqual(self.letters(result)[1]["position"]["row"], 2)

    def test_an_empty_first_object_names_no_columns_and_is_dead_lettered(self):
        self.server.tables["orders"] = [{}, {"id": 1}]
        result = self.copy({"url": f"{self.base}/all/orders"}, max_errors=1)
        self.assertEqual((result.ok, self.copied()), (True, [{"id": 1}]))
        self.assertEqual(self.letters(result)[0]["reason"], "an empty object: no fields to make the columns of")

    def test_a_records_path_that_matches_nothing_is_a_clear_error(self):
        self.server.tables["orders"] = ORDERS
        error = self.failed({**styles(self.base)["page"], "records": "dta"})
        self.assertIn("rest connection 'shop': records: 'dta' matches nothing in page 1 (", error)
        self.assertIn("which holds: data, page", error)
        error = self.failed({**styles(self.base)["page"], "records": None})
        self.assertIn("records: page 1 (", error)
        self.assertIn("is an object (keys: data, page); name the one that holds the rows", error)
        error = self.failed({**styles(self.base)["page"], "records": "page"})
        self.assertIn("records: page of page 1 (", error)
        self.assertIn("is a int, not a list of rows", error)

    def test_a_page_naming_itself_as_the_next_one_stops_the_read(self):
        self.server.tables["orders"] = ORDERS
        error = self.failed(
            {
                "url": f"{self.base}/page/orders",
                "records": "data",
                "paginate": {"cursor": {"param": "size", "path": "page"}},
            }
        )
        self.assertIn("paginate: page 2 (", error)
        self.assertIn("names itself as the next page; the read would never end", error)

    def test_an_error_status_names_the_request_and_the_servers_answer(self):
        error = self.failed({"url": f"{self.base}/nowhere/orders"}, executor="process")
        self.assertIn(
            f"rest connection 'shop': url: the server answered 404 NOT FOUND to GET {self.base}/nowhere/orders: "
            '{"error":"no route /nowhere/orders"}',
            error,
        )


if __name__ == "__main__":
    unittest.main()
