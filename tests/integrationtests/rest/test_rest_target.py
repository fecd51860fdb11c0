"""A REST target against a real local HTTP server: a batch or each row per request, refused rows
dead-lettered with the server's reason, retries, and what a REST endpoint cannot do."""

import contextlib
import json
import unittest

from pdip.integrator import Connection, Integration, Operation, OperationError
from tests.integrationtests.rest.test_rest_source import FAST, RestServerCase

ROWS = [{"id": i, "label": None if i % 4 == 0 else f"row {i}"} for i in range(1, 11)]


class RestTargetTest(RestServerCase):
    def send(self, settings: dict, rows=ROWS, **options):
        self.integrator.stores["rows"] = rows
        integration = Integration(
            "rows",
            source=Connection("memory", {"store": "rows"}),
            target=Connection("rest", {**FAST, **settings}, name="sink"),
            batch_size=4,
            **options,
        )
        with contextlib.redirect_stdout(self.printed), contextlib.redirect_stderr(self.printed):
            return self.integrator.integrate(Operation("send", [integration], executor="inline"))

    def test_each_batch_is_one_request_with_a_json_array(self):
        result = self.send({"url": f"{self.base}/all/sink"})
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(self.server.tables["sink"], ROWS)
        posts = [asked for asked in self.server.requests if asked.method == "POST"]
        self.assertEqual([len(json.loads(asked.body)) for asked in posts], [4, 4, 2])
        self.assertEqual(posts[0].headers["Content-Type"], "application/json")

    def test_rows_are_wrapped_at_records_and_sent_with_params(self):
        result = self.send({"url": f"{self.base}/all/sink", "records": "data", "params": {"source": "pdip"}})
        self.assertTrue(result.ok, result["rows"].error)
        first = self.server.requests[0]
        self.assertEqual(first.path, "/all/sink?source=pdip")
        self.assertEqual(list(json.loads(first.body)), ["data"])
        self.assertEqual(self.server.tables["sink"], ROWS)

    def test_each_row_goes_to_its_own_url_with_put(self):
        self.server.tables["sink"] = [{"id": 2, "label": "old"}]
        result = self.send({"url": f"{self.base}/all/sink/{{id}}", "send": "row", "method": "PUT"})
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(sorted(self.server.tables["sink"], key=lambda row: row["id"]), ROWS)
        self.assertEqual({asked.method for asked in self.server.requests}, {"PUT"})
        self.assertEqual(self.server.requests[0].path, "/all/sink/1")

    def test_rows_the_server_refuses_are_dead_lettered_with_its_reason(self):
        result = self.send({"url": f"{self.base}/all/strict/{{id}}", "send": "row"}, max_errors=5)
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(result["rows"].rows_dead_lettered, 2)
        self.assertEqual([row["id"] for row in self.server.tables["strict"]], [1, 2, 3, 5, 6, 7, 9, 10])
        letters = self.letters(result)
        self.assertEqual(sorted(letter["row"]["id"] for letter in letters), [4, 8])
        self.assertTrue(letters[0]["reason"].startswith("HTTP 422 UNPROCESSABLE ENTITY: "), letters[0]["reason"])
        self.assertIn("label: must not be null", letters[0]["reason"])

    def test_a_batch_the_server_refuses_is_dead_lettered_whole(self):
        result = self.send({"url": f"{self.base}/all/strict"}, max_errors=10)
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(result["rows"].rows_dead_lettered, 8)  # two of the three batches hold a NULL label
        self.assertEqual([row["id"] for row in self.server.tables["strict"]], [9, 10])

    def test_a_503_is_retried_and_a_lasting_one_fails_the_run(self):
        self.server.fault(503, headers={"Retry-After": "0"})
        result = self.send({"url": f"{self.base}/all/sink"})
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(self.server.tables["sink"], ROWS)
        self.server.fault(502, times=5)
        result = self.send({"url": f"{self.base}/all/other"})
        self.assertIn(
            f"rest connection 'sink': url: POST {self.base}/all/other failed after 3 tries: HTTP 502",
            result["rows"].error,
        )

    def test_a_server_error_that_is_not_retried_fails_the_run_with_its_answer(self):
        self.server.fault(501, '{"error": "not here"}')
        result = self.send({"url": f"{self.base}/all/sink"})
        self.assertIn("the server answered 501 NOT IMPLEMENTED to POST", result["rows"].error)
        self.assertIn('{"error": "not here"}', result["rows"].error)

    def test_what_an_endpoint_cannot_do_is_refused_before_rows_are_sent(self):
        result = self.send({"url": f"{self.base}/all/sink"}, truncate_target=True)
        self.assertIn(
            "rest connection 'sink': truncate_target: a rest target cannot empty its endpoint", result["rows"].error
        )
        result = self.send({"url": f"{self.base}/all/sink/{{id}}"})
        self.assertIn("url: {id} is filled from a row, which needs send: row", result["rows"].error)
        result = self.send({"url": f"{self.base}/all/sink/{{key}}", "send": "row"})
        self.assertIn("url: {key} is not a column of the rows (they have: id, label)", result["rows"].error)
        self.assertEqual(self.server.requests, [])
        with self.assertRaises(OperationError) as raised:
            self.send({"url": f"{self.base}/all/sink", "send": "each"})
        self.assertIn("target.send: expected one of batch, row, got 'each'", str(raised.exception))

    def test_values_json_lacks_travel_as_text(self):
        import datetime as dt
        from decimal import Decimal

        rows = [
            {
                "id": 1,
                "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
                "amount": Decimal("1.10"),
                "blob": b"\x00\xff",
                "huge": 2**70,
            }
        ]
        result = self.send({"url": f"{self.base}/all/typed"}, rows=rows)
        self.assertTrue(result.ok, result["rows"].error)
        self.assertEqual(
            self.server.tables["typed"],
            [
                {"id": 1, "at": "2026-01-02T03:04:05+00:00", "amount": "1.10", "blob": "AP8=", "huge": 2**70},
            ],
        )


if __name__ == "__main__":
    unittest.main()
