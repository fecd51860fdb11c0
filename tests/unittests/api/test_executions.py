"""Integrator endpoints: start a configured operation, follow its status, counts and events."""

import contextlib
import io
import json
import threading
import unittest

from pdip import Pdi
from pdip.api import ApiApp
from pdip.api.executions import ExecutionRunner
from pdip.integrator.base import Integrator
from pdip.integrator.events import BatchWritten, Event
from tests.support.apps import application

FILES = {
    "application.yml": """
        API:
          EXECUTION_WORKERS: 1
          TENANT_REQUIRED: true     # operations belong to no tenant: their endpoints need none
        CQRS:
          LOGGING: false
        OPERATIONS:
          copy: operations/copy.yml
          broken-source: operations/broken_source.yml
          invalid: operations/invalid.yml
          secret-query: operations/secret_query.yml
          missing-file: operations/missing.yml
    """,
    "tokens.db": "",
    "operations/secret_query.yml": """
        name: secret-query
        executor: inline
        integrations:
          - name: tokens
            source: {kind: sqlite, database: tokens.db, query: "SELECT * FROM nope WHERE api_token = 'hunter2-literal'"}
            target: {kind: memory, store: out}
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
    "operations/broken_source.yml": """
        name: broken
        executor: inline
        integrations:
          - name: nothing
            source: {kind: nosuchkind}
            target: {kind: memory, store: out}
    """,
    "operations/invalid.yml": "integrations: []\n",
}


def read_events(response) -> list[dict]:
    """Server-Sent Events as dicts with their id, name and data."""
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append({"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])})
    return events


class ExecutionsApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._app = application(FILES)
        cls.root, _ = cls._app.__enter__()
        cls.pdi = Pdi(cls.root)
        cls.client = cls.pdi.get(ApiApp).test_client()
        cls.integrator = cls.pdi.get(Integrator)

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()
        cls._app.__exit__(None, None, None)

    def setUp(self):
        self.integrator.stores["orders"] = [{"id": i, "amount": i * 10} for i in range(1, 1001)]

    def start(self, name="copy"):
        return self.client.post(f"/api/operations/{name}/executions")

    def test_starting_an_operation_answers_202_and_where_to_follow_it(self):
        response = self.start()
        self.assertEqual(response.status_code, 202)
        started = response.get_json()
        self.assertEqual((started["operation"], started["status"]), ("copy-orders", "pending"))
        self.assertEqual(response.headers["Location"], f"/api/executions/{started['execution_id']}")
        self.assertEqual(started["location"], response.headers["Location"])
        read_events(self.client.get(f"/api/executions/{started['execution_id']}/events"))  # to its end

    def test_the_events_stream_to_the_end_then_the_status_has_the_counts(self):
        execution_id = self.start().get_json()["execution_id"]
        stream = self.client.get(f"/api/executions/{execution_id}/events")
        self.assertEqual(stream.mimetype, "text/event-stream")
        self.assertEqual(stream.headers["Cache-Control"], "no-cache")
        events = read_events(stream)
        names = [event["event"] for event in events]
        self.assertEqual(names[0], "OperationStarted")
        self.assertEqual(names.count("BatchWritten"), 3)
        self.assertEqual(names[-2:], ["IntegrationFinished", "OperationFinished"])
        self.assertEqual([event["id"] for event in events], list(range(len(events))))
        self.assertEqual([e["data"]["total_rows"] for e in events if e["event"] == "BatchWritten"], [400, 800, 1000])
        status = self.client.get(f"/api/executions/{execution_id}").get_json()
        self.assertEqual(
            (status["status"], status["operation"], status["rows_read"], status["rows_written"]),
            ("finished", "copy-orders", 1000, 1000),
        )
        self.assertEqual(status["integrations"][0]["name"], "orders")
        self.assertIsNotNone(status["finished_at"])

    def test_last_event_id_resumes_the_stream(self):
        execution_id = self.start().get_json()["execution_id"]
        everything = read_events(self.client.get(f"/api/executions/{execution_id}/events"))
        rest = read_events(self.client.get(f"/api/executions/{execution_id}/events", headers={"Last-Event-ID": "2"}))
        self.assertEqual(rest, everything[3:])

    def test_recent_executions_are_listed_newest_first(self):
        first = self.start().get_json()["execution_id"]
        read_events(self.client.get(f"/api/executions/{first}/events"))
        second = self.start().get_json()["execution_id"]
        read_events(self.client.get(f"/api/executions/{second}/events"))
        listed = self.client.get("/api/executions?limit=2").get_json()
        self.assertEqual([item["execution_id"] for item in listed], [second, first])
        self.assertTrue(all(item["status"] == "finished" for item in listed))

    def test_counts_are_live_while_the_execution_runs(self):
        reached, release = threading.Event(), threading.Event()

        def pause(event):
            if isinstance(event, BatchWritten) and event.total_rows == 400:
                reached.set()
                release.wait(10)

        self.pdi.get(ExecutionRunner)  # subscribed first, so it has heard the batch when `pause` holds the run
        self.integrator.subscribe(Event, pause)
        try:
            execution_id = self.start().get_json()["execution_id"]
            self.assertTrue(reached.wait(10))
            status = self.client.get(f"/api/executions/{execution_id}").get_json()
            self.assertEqual(status["status"], "running")
            self.assertEqual(
                status["integrations"],
                [
                    {
                        "name": "orders",
                        "status": "running",
                        "rows_read": 0,
                        "rows_written": 400,
                        "rows_dead_lettered": 0,
                        "error": None,
                        "reference": None,
                    }
                ],
            )
            self.assertEqual(status["rows_written"], 400)
        finally:
            release.set()
            self.integrator._subscribers[Event].remove(pause)
        read_events(self.client.get(f"/api/executions/{execution_id}/events"))
        self.assertEqual(self.client.get(f"/api/executions/{execution_id}").get_json()["rows_written"], 1000)

    def test_a_failing_integration_shows_its_error_masked_and_logs_it_under_the_reference(self):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            execution_id = self.start("secret-query").get_json()["execution_id"]
            events = read_events(self.client.get(f"/api/executions/{execution_id}/events"))
            status = self.client.get(f"/api/executions/{execution_id}")
        failed = [event for event in events if event["event"] == "IntegrationFailed"]
        self.assertEqual(len(failed), 1)
        self.assertIn("no such table: nope", failed[0]["data"]["error"])
        body = status.get_data(as_text=True)
        integration = status.get_json()["integrations"][0]
        self.assertEqual((status.get_json()["status"], integration["status"]), ("failed", "failed"))
        self.assertTrue(integration["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table"))
        self.assertIn("api_token = ***", integration["error"])
        self.assertEqual(integration["reference"], f"{execution_id}/tokens")
        record = self.integrator.state.execution(execution_id)
        for text in (body, json.dumps(events), output.getvalue(), record["summary"]):
            self.assertNotIn("hunter2-literal", text)
        self.assertIn(f"reference={execution_id}/tokens", output.getvalue())

    def test_a_workers_traceback_is_reduced_to_its_last_line(self):
        from pdip.api.executions import shown_error

        error = (
            "IntegrationFailedError: integration 'a' failed: the reader process failed:\n"
            'Traceback (most recent call last):\n  File "/srv/app/x.py", line 3, in read\n'
            "    connect()\nValueError: postgresql://app:pw@db/prod refused\n"
        )
        self.assertEqual(
            shown_error(error),
            "IntegrationFailedError: integration 'a' failed: the reader process failed: "
            "ValueError: postgresql://app:***@db/prod refused",
        )
        self.assertEqual(shown_error("Traceback (most recent call last):\n  x\nKeyError: 'k'"), "KeyError: 'k'")
        self.assertIsNone(shown_error(None))

    def test_the_exception_is_shown_not_the_lines_a_driver_adds_after_it(self):
        from pdip.api.executions import shown_error

        error = (
            "IntegrationFailedError: integration 'a' failed: the reader failed:\n"
            'Traceback (most recent call last):\n  File "/srv/app/x.py", line 3, in read\n    run()\n'
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: t\n"
            "[SQL: SELECT * FROM t WHERE token = 'sk_live_1234']\n"
            "(Background on this error at: https://sqlalche.me/e/21/e3q8)\n"
        )
        self.assertEqual(
            shown_error(error),
            "IntegrationFailedError: integration 'a' failed: the reader failed: "
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: t",
        )
        self.assertEqual(shown_error("Traceback (most recent call last):\n  x\nKeyboardInterrupt"), "KeyboardInterrupt")

    def test_an_operation_the_adapters_refuse_is_422_before_it_runs(self):
        response = self.start("broken-source")
        self.assertEqual(response.status_code, 422, response.get_data(as_text=True))
        self.assertEqual(response.mimetype, "application/problem+json")
        document = response.get_json()
        self.assertEqual(document["detail"], "operation 'broken-source' is invalid")
        self.assertIn("nosuchkind", document["errors"][0]["message"])
        self.assertEqual(self.client.get("/api/executions?limit=100").status_code, 200)

    def test_an_unknown_operation_is_404_listing_the_configured_ones(self):
        response = self.start("nope")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(
            response.get_json()["detail"],
            "no operation named 'nope'; configured: broken-source, copy, invalid, missing-file, secret-query",
        )

    def test_an_invalid_operation_file_is_a_422_naming_the_problem_without_server_paths(self):
        response = self.start("invalid")
        self.assertEqual(response.status_code, 422)
        self.assertEqual(
            response.get_json()["errors"],
            [
                {
                    "field": "operation",
                    "message": "invalid.yml: integrations: expected a list of at least one integration",
                }
            ],
        )
        self.assertNotIn(str(self.root), response.get_data(as_text=True))
        missing = self.start("missing-file").get_json()
        self.assertEqual(
            missing["errors"][0]["message"], "operations/missing.yml: cannot be read: No such file or directory"
        )

    def test_unknown_executions_are_404(self):
        self.assertEqual(self.client.get("/api/executions/nope").status_code, 404)
        self.assertEqual(self.client.get("/api/executions/nope/events").status_code, 404)

    def test_another_worker_streams_the_same_events_from_the_state_database(self):
        execution_id = self.start().get_json()["execution_id"]
        here = read_events(self.client.get(f"/api/executions/{execution_id}/events"))
        with Pdi(self.root) as other:  # another gunicorn worker: its own Pdi, the same state database
            client = other.get(ApiApp).test_client()
            there = read_events(client.get(f"/api/executions/{execution_id}/events"))
            rest = read_events(client.get(f"/api/executions/{execution_id}/events", headers={"Last-Event-ID": "4"}))
        self.assertEqual(there, here)
        self.assertEqual([event["event"] for event in there][-1], "OperationFinished")
        self.assertEqual(rest, here[5:])

    def test_a_run_started_outside_the_api_streams_its_stored_status(self):
        from pdip.integrator import Operation

        direct = Operation.from_yaml(self.root / "operations" / "copy.yml")
        self.integrator.integrate(direct, execution_id="direct-stream")  # as `pdip run` would
        events = read_events(self.client.get("/api/executions/direct-stream/events"))
        self.assertEqual([event["event"] for event in events], ["ExecutionStatus"])
        self.assertEqual((events[0]["data"]["status"], events[0]["data"]["rows_written"]), ("finished", 1000))

    def test_runs_started_elsewhere_are_read_from_the_state_store(self):
        from pdip.integrator import Operation

        self.pdi.get(ExecutionRunner)  # listening, but it keeps no events of runs it did not start
        direct = Operation.from_yaml(self.root / "operations" / "copy.yml")
        self.integrator.integrate(direct, execution_id="direct-run")  # as `pdip run` would
        status = self.client.get("/api/executions/direct-run").get_json()
        self.assertEqual((status["status"], status["rows_written"]), ("finished", 1000))
        self.integrator.state.start_execution("remote-op", "elsewhere-run")
        status = self.client.get("/api/executions/elsewhere-run").get_json()
        self.assertEqual((status["status"], status["operation"], status["integrations"]), ("running", "remote-op", []))

    def test_the_endpoints_are_in_the_spec(self):
        paths = self.client.get("/swagger.json").get_json()["paths"]
        self.assertEqual(paths["/api/operations/{name}/executions"]["post"]["tags"], ["executions"])
        for path in ("/api/executions", "/api/executions/{id}", "/api/executions/{id}/events"):
            self.assertIn("get", paths[path])
            names = [parameter["name"] for parameter in paths[path]["get"]["parameters"]]
            self.assertNotIn("X-Tenant-Id", names)


class _Raising:
    def __init__(self, registry):
        self.registry = registry

    def integrate(self, operation, execution_id):
        raise RuntimeError("state database unreachable")


class RunnerTest(unittest.TestCase):
    def test_an_integrator_that_raises_ends_the_run_as_failed_and_logs(self):
        with application(FILES) as (root, _), Pdi(root) as pdi:
            runner = pdi.get(ExecutionRunner)
            runner.integrator = _Raising(runner.integrator.registry)
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                started = runner.start("copy")
                events = list(runner.events(started.execution_id))
            self.assertEqual(len(events), 1)
            self.assertIn('"status": "failed"', events[0])
            self.assertIn("state database unreachable", output.getvalue())

    def test_only_finished_runs_are_forgotten_when_too_many_are_kept(self):
        from pdip.api import executions

        with application(FILES) as (root, _), Pdi(root) as pdi:
            runner = pdi.get(ExecutionRunner)
            previous = executions.KEPT_EXECUTIONS
            executions.KEPT_EXECUTIONS = 2
            try:
                runs = [executions._Run(str(number), "op") for number in range(3)]
                runs[1].add_end()
                for run in runs:
                    runner._keep(run)
                self.assertEqual(list(runner._runs), ["0", "1", "2"])  # the oldest is still running
                runs[0].add_end()
                runner._keep(executions._Run("3", "op"))
                self.assertEqual(list(runner._runs), ["2", "3"])
            finally:
                executions.KEPT_EXECUTIONS = previous

    def test_a_waiting_stream_sends_keep_alives(self):
        from pdip.api import executions

        run = executions._Run("x", "op")
        previous = executions.KEEP_ALIVE_SECONDS
        executions.KEEP_ALIVE_SECONDS = 0.01
        try:
            stream = executions._follow(run, 0)
            self.assertEqual(next(stream), ": keep-alive\n\n")
            run.add({"event": "OperationFinished", "status": "finished"})
            run.add_end()
            self.assertTrue(next(stream).startswith("id: 0\nevent: OperationFinished\n"))
            self.assertEqual(list(stream), [])
        finally:
            executions.KEEP_ALIVE_SECONDS = previous

    def test_live_counts_follow_finished_and_failed_integrations(self):
        from pdip.api import executions

        run = executions._Run("x", "op")
        for event in (
            {
                "event": "IntegrationFinished",
                "integration": "a",
                "rows_read": 5,
                "rows_written": 4,
                "rows_dead_lettered": 1,
            },
            {"event": "IntegrationFailed", "integration": "b", "error": "boom"},
            {"event": "OperationFinished", "status": "failed"},
        ):
            run.add(event)
        view = executions.ExecutionView("x", "op", "pending")
        executions._count_live(view, run.events)
        self.assertEqual(view.status, "failed")
        self.assertEqual(
            [(item.name, item.status, item.error) for item in view.integrations],
            [("a", "finished", None), ("b", "failed", "boom")],
        )
        self.assertEqual((view.rows_read, view.rows_written, view.rows_dead_lettered), (5, 4, 1))

    def test_a_pending_execution_has_no_counts_yet(self):
        from pdip.api import executions

        with application(FILES) as (root, _), Pdi(root) as pdi:
            runner = pdi.get(ExecutionRunner)
            runner._keep(executions._Run("queued", "copy-orders"))
            view = runner.execution("queued")
            self.assertEqual((view.status, view.rows_written, view.integrations), ("pending", 0, []))


class OtherWorkerTest(unittest.TestCase):
    """Two `Pdi` on one application folder: two gunicorn workers sharing a state database."""

    def setUp(self):
        from pdip.api import executions

        self.executions = executions
        self._app = application(FILES)
        root, _ = self._app.__enter__()
        self.starting, self.other = Pdi(root), Pdi(root)
        self.runner = self.other.get(ExecutionRunner)
        self._timings = executions.POLL_SECONDS, executions.KEEP_ALIVE_SECONDS
        executions.POLL_SECONDS, executions.KEEP_ALIVE_SECONDS = 0.01, 0.02

    def tearDown(self):
        self.executions.POLL_SECONDS, self.executions.KEEP_ALIVE_SECONDS = self._timings
        self.starting.cleanup()
        self.other.cleanup()
        self._app.__exit__(None, None, None)

    def test_a_stream_in_another_worker_follows_a_running_execution_to_its_end(self):
        integrator = self.starting.get(Integrator)
        integrator.stores["orders"] = [{"id": i, "amount": i} for i in range(1, 1001)]
        self.starting.get(ExecutionRunner)  # subscribed first: it stores each event before `hold` holds
        release, held = threading.Event(), threading.Event()

        def hold(event):
            if isinstance(event, BatchWritten) and not held.is_set():
                held.set()
                release.wait(10)

        integrator.subscribe(Event, hold)  # after the runner's: it hears events of every type last
        client = self.starting.get(ApiApp).test_client()
        execution_id = client.post("/api/operations/copy/executions").get_json()["execution_id"]
        try:
            self.assertTrue(held.wait(10))
            status = self.other.get(ApiApp).test_client().get(f"/api/executions/{execution_id}").get_json()
            self.assertEqual((status["status"], status["rows_written"]), ("running", 400))
            stream = self.runner.events(execution_id)
            so_far = [next(stream) for _ in range(3)]
            self.assertEqual([block.split("\n")[1] for block in so_far], [
                "event: OperationStarted", "event: IntegrationStarted", "event: BatchWritten"
            ])  # fmt: skip
            self.assertEqual(next(stream), ": keep-alive\n\n")  # nothing new while the run is held
        finally:
            release.set()
        rest = list(stream)
        self.assertEqual(rest[-1].split("\n")[:2], ["id: 6", "event: OperationFinished"])
        self.assertEqual(sum("BatchWritten" in block for block in rest), 2)

    def test_a_run_whose_record_ended_without_its_last_event_ends_the_stream(self):
        state = self.runner.integrator.state
        state.start_execution("copy-orders", "orphan")
        self.runner.log.append("orphan", 0, {"event": "OperationStarted", "execution_id": "orphan"})
        state.execution_finished("orphan", "failed", {})  # its worker died before OperationFinished
        blocks = list(self.runner.events("orphan"))
        self.assertEqual([block.split("\n")[1] for block in blocks], ["event: OperationStarted"])

    def test_events_that_cannot_be_stored_are_logged_by_type_and_the_run_goes_on(self):
        import sqlalchemy as sa

        def unreachable(*_):
            raise sa.exc.OperationalError("INSERT INTO pdip_execution_events ... hunter2", {}, Exception("down"))

        runner = self.starting.get(ExecutionRunner)
        runner.log.append = unreachable
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            started = runner.start("copy")
            blocks = list(runner.events(started.execution_id))
        self.assertEqual(blocks[-1].split("\n")[1], "event: OperationFinished")
        self.assertIn(f"events of execution {started.execution_id} could not be stored", output.getvalue())
        self.assertIn("OperationalError", output.getvalue())
        self.assertNotIn("hunter2", output.getvalue())

    def test_only_the_events_of_the_latest_executions_are_kept(self):
        log = self.runner.log
        for execution_id in ("a", "b", "c"):
            log.append(execution_id, 0, {"event": "OperationStarted"})
        log.forget(2)
        self.assertEqual([bool(log.since(name)) for name in ("a", "b", "c")], [False, True, True])


if __name__ == "__main__":
    unittest.main()
