"""Run history pages and /metrics through Flask's test client: what they list, show, page and escape."""

import itertools
import json
import re
import threading
import unittest
from html import unescape
from unittest import mock

from pdip import Pdi
from pdip.api import ApiApp, generate_key, hash_key
from pdip.api.executions import ExecutionRunner
from pdip.integrator.base import Integrator
from pdip.integrator.events import BatchWritten, Event
from tests.support.apps import application
from tests.unittests.api.test_executions import read_events

HOSTILE = "<script>alert(1)</script>"


def readings(lines: int = 120, bad_every: int = 2) -> str:
    """JSON Lines where every `bad_every`-th reading's value is hostile text, which an int column refuses."""
    rows = []
    for number in range(1, lines + 1):
        value = f'"{HOSTILE}"' if number % bad_every == 0 else str(number)
        rows.append(f'{{"id": {number}, "n": {value}}}')
    return "\n".join(rows) + "\n"


FILES = {
    "application.yml": """
        API:
          EXECUTION_WORKERS: 1
        CQRS:
          LOGGING: false
        OPERATIONS:
          load: operations/load.yml
          copy: operations/copy.yml
          secret-query: operations/secret_query.yml
    """,
    "readings.jsonl": readings(),
    "tokens.db": "",
    "operations/secret_query.yml": """
        name: secret-query
        executor: inline
        integrations:
          - name: tokens
            source: {kind: sqlite, database: tokens.db, query: "SELECT * FROM nope WHERE api_token = 'hunter2-literal'"}
            target: {kind: memory, store: out}
    """,
    "operations/load.yml": """
        name: load-readings
        executor: inline
        integrations:
          - name: readings
            source: {kind: jsonl, path: readings.jsonl, types: {id: int, n: int}}
            target: {kind: memory, store: loaded}
            batch_size: 10
            max_errors: 1000
    """,
    "operations/copy.yml": """
        name: copy-orders
        executor: inline
        integrations:
          - name: orders
            source: {kind: memory, store: orders}
            target: {kind: memory, store: orders_copy}
            batch_size: 400
    """,
}


class RunPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._app = application(FILES)
        cls.root, _ = cls._app.__enter__()
        cls.pdi = Pdi(cls.root)
        cls.client = cls.pdi.get(ApiApp).test_client()
        cls.integrator = cls.pdi.get(Integrator)
        cls.integrator.stores["orders"] = [{"id": i} for i in range(1, 1001)]
        cls.loaded = cls.run_to_end("load")
        cls.copied = cls.run_to_end("copy")

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()
        cls._app.__exit__(None, None, None)

    @classmethod
    def run_to_end(cls, name):
        execution_id = cls.client.post(f"/api/operations/{name}/executions").get_json()["execution_id"]
        read_events(cls.client.get(f"/api/executions/{execution_id}/events"))
        return execution_id

    def page(self, url):
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200, response.get_data(as_text=True)[:500])
        self.assertEqual(response.mimetype, "text/html")
        return response, response.get_data(as_text=True)

    def test_the_list_shows_each_run_with_its_counts_and_a_sparkline(self):
        response, html = self.page("/runs")
        self.assertIn("default-src 'self'", response.headers["Content-Security-Policy"])
        self.assertNotIn("<script>alert", html)
        rows = re.findall(r'<tr class="run status-(\w+)">(.*?)</tr>', html, re.S)
        shown = {re.search(r">(\w{32})</a>", row).group(1): (status, row) for status, row in rows}
        status, row = shown[self.loaded]
        self.assertEqual(status, "finished")
        cells = re.findall(r'<td class="number">([^<]*)</td>', row)
        self.assertEqual(cells[1:], ["120", "60", "60"])  # read, written, dead-lettered
        samples = json.loads(unescape(re.search(r"data-samples='([^']*)'", row).group(1)))
        self.assertEqual(len(samples), 12)  # a sample a batch: twelve batches of ten read
        self.assertEqual(samples[-1][1], 60)
        self.assertIn('src="/runs/static/uplot/uPlot.iife.min.js"', html)

    def test_the_list_filters_by_operation_and_status(self):
        _, html = self.page("/runs?operation=copy-orders")
        self.assertIn(self.copied, html)
        self.assertNotIn(self.loaded, html)
        self.assertIn('<option value="copy-orders" selected>', html)
        _, html = self.page("/runs?status=interrupted")
        self.assertIn("No runs match these filters.", html)
        _, html = self.page("/runs?limit=1&status=finished")
        self.assertEqual(len(re.findall(r'<tr class="run ', html)), 1)

    def test_a_run_shows_its_chart_samples_and_escapes_dead_letters(self):
        _, html = self.page(f"/runs/{self.loaded}")
        self.assertNotIn(HOSTILE, html)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", html)
        samples = json.loads(unescape(re.search(r"id=\"chart-readings\" data-samples='([^']*)'", html).group(1)))
        self.assertEqual([rows for _, rows in samples], [5 * batch for batch in range(1, 13)])
        self.assertIn("Dead letters (60)", html)
        self.assertEqual(len(re.findall(r"<tr><td class=\"number\">", html)), 50)
        self.assertIn("page 1 of 2", html)
        self.assertIn(f'href="/runs/{self.loaded}?integration=readings&amp;page=2#dead-letters-readings"', html)
        self.assertNotIn('class="previous"', html)
        self.assertNotIn("data-events", html)  # finished: nothing to follow

    def test_the_second_page_of_dead_letters_holds_the_rest(self):
        _, html = self.page(f"/runs/{self.loaded}?integration=readings&page=2")
        numbers = re.findall(r'<tr><td class="number">(\d+)</td>', html)
        self.assertEqual(numbers, [str(number) for number in range(51, 61)])
        self.assertIn("page 2 of 2", html)
        self.assertIn('class="previous"', html)
        self.assertNotIn('class="next"', html)
        _, past = self.page(f"/runs/{self.loaded}?integration=readings&page=9")  # the last page
        self.assertIn("page 2 of 2", past)

    def test_a_failed_run_shows_its_error_type_and_message_with_no_secret_and_no_traceback(self):
        failed = self.run_to_end("secret-query")
        _, html = self.page(f"/runs/{failed}")
        self.assertNotIn("hunter2", html)
        self.assertNotIn("Traceback", html)
        error = re.search(r'<p class="error">(.*?)</p>', html, re.S).group(1)
        self.assertIn("OperationalError", error)
        self.assertIn(f"(log: {failed}/tokens)", error)
        _, listed = self.page("/runs?status=failed")
        self.assertIn(failed, listed)

    def test_an_unknown_run_is_404(self):
        response = self.client.get("/runs/nope")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.get_data(as_text=True), "no execution 'nope'")
        self.assertEqual(self.client.get("/runs/nope/events").status_code, 404)

    def test_a_finished_run_streams_its_events_from_the_pages_too(self):
        events = read_events(self.client.get(f"/runs/{self.copied}/events"))
        self.assertEqual(events[-1]["event"], "OperationFinished")
        written = [event["data"] for event in events if event["event"] == "BatchWritten"]
        self.assertEqual([(e["total_rows"], e["rows_read"]) for e in written], [(400, 400), (800, 400), (1000, 200)])
        self.assertTrue(all(later["seconds"] >= earlier["seconds"] for earlier, later in itertools.pairwise(written)))

    def test_a_running_run_is_followed_live_by_its_page(self):
        reached, release = threading.Event(), threading.Event()

        def pause(event):
            if isinstance(event, BatchWritten) and event.total_rows == 400:
                reached.set()
                release.wait(10)

        self.pdi.get(ExecutionRunner)
        self.integrator.subscribe(Event, pause)
        try:
            execution_id = self.client.post("/api/operations/copy/executions").get_json()["execution_id"]
            self.assertTrue(reached.wait(10))
            _, html = self.page(f"/runs/{execution_id}")
            self.assertIn(f'data-events="/runs/{execution_id}/events"', html)
            self.assertIn('<span class="status status-running" id="status">running</span>', html)
            self.assertIn('<span class="written">400</span>', html)
        finally:
            release.set()
            self.integrator._subscribers[Event].remove(pause)
        read_events(self.client.get(f"/runs/{execution_id}/events"))

    def test_metrics_count_rows_batches_and_runs_per_operation(self):
        response = self.client.get("/metrics")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.content_type.startswith("text/plain; version="), response.content_type)
        text = response.get_data(as_text=True)
        labels = 'integration="readings",operation="load-readings"'
        self.assertIn(f"pdip_rows_read_total{{{labels}}} 120.0", text)
        self.assertIn(f"pdip_rows_written_total{{{labels}}} 60.0", text)
        self.assertIn(f"pdip_rows_dead_lettered_total{{{labels}}} 60.0", text)
        self.assertIn(f"pdip_batch_write_seconds_count{{{labels}}} 12.0", text)
        self.assertIn('pdip_runs_total{operation="load-readings",status="finished"} 1.0', text)
        self.assertIn('pdip_runs_running{operation="load-readings"} 0.0', text)

    def test_metrics_without_prometheus_client_answer_501_saying_what_to_install(self):
        with mock.patch.dict("sys.modules", {"prometheus_client": None}), Pdi(self.root) as pdi:
            response = pdi.get(ApiApp).test_client().get("/metrics")
        self.assertEqual(response.status_code, 501)
        self.assertIn("pip install 'pdip[metrics]'", response.get_json()["detail"])


class GatedPagesTest(unittest.TestCase):
    def test_pages_and_metrics_ask_for_the_apis_credential(self):
        key = generate_key()
        api = {"AUTHENTICATION": "api_key", "KEYS": [{"NAME": "ops", "HASH": hash_key(key)}]}
        with application({"application.yml": "CQRS:\n  LOGGING: false\n"}) as (root, _):
            with Pdi(root, configurations={"API": api}) as pdi:
                client = pdi.get(ApiApp).test_client()
                for url in ("/runs", "/runs/any", "/runs/any/events", "/metrics"):
                    self.assertEqual(client.get(url).status_code, 401, url)
                self.assertEqual(client.get("/runs", headers={"X-API-Key": key}).status_code, 200)
                with mock.patch.dict("sys.modules", {"prometheus_client": None}):
                    gated = Pdi(root, configurations={"API": api})
                    with gated:
                        self.assertEqual(gated.get(ApiApp).test_client().get("/metrics").status_code, 401)

    def test_api_runs_and_metrics_false_leave_them_out(self):
        with application({"application.yml": "API:\n  RUNS: false\n  METRICS: false\n"}) as (root, _):
            with Pdi(root) as pdi:
                client = pdi.get(ApiApp).test_client()
                self.assertEqual(client.get("/runs").status_code, 404)
                self.assertEqual(client.get("/metrics").status_code, 404)
        with application({"application.yml": "API:\n  EXECUTIONS: false\n"}) as (root, _):
            with Pdi(root) as pdi:  # the pages and metrics come with the integrator endpoints
                client = pdi.get(ApiApp).test_client()
                self.assertEqual((client.get("/runs").status_code, client.get("/metrics").status_code), (404, 404))


if __name__ == "__main__":
    unittest.main()
