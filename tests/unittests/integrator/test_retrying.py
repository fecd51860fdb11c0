"""Retries of transient failures (docs/adr/0029): the waits, which errors are retried, and an
integration tried again from its last durable position under the inline and process executors."""

import pickle
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation, OperationError
from pdip.integrator.adapters import Adapter, AdapterRegistry, Source, Target, WriteResult
from pdip.integrator.batch import Batch
from pdip.integrator.errors import IntegrationFailedError, TransientFailure
from pdip.integrator.events import Event, IntegrationFailed, IntegrationRetried
from pdip.integrator.history import execution_details
from pdip.integrator.integrations import Retries
from pdip.integrator.runs.retrying import RetryPolicy, judges_of, transient


class Passing(ConnectionError):
    """What a store's driver raises when its connection is lost."""


def says_passing(error):
    return isinstance(error, Passing)


class RetryPolicyTest(unittest.TestCase):
    def test_waits_double_from_backoff_and_never_exceed_max_backoff(self):
        slept = []
        policy = RetryPolicy(Retries(attempts=8, backoff=0.5, max_backoff=3), sleep=slept.append, random=lambda: 0.0)
        waits = [policy.delay(attempt) for attempt in range(1, 8)]
        self.assertEqual(waits, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0])
        policy.sleep(waits[-1])  # the injected clock: nothing waited
        self.assertEqual(slept, [3.0])

    def test_jitter_shortens_a_wait_by_at_most_half(self):
        lowest = RetryPolicy(Retries(attempts=3, backoff=2, max_backoff=2), random=lambda: 0.999999)
        self.assertAlmostEqual(lowest.delay(1), 1.0, places=4)
        self.assertAlmostEqual(lowest.delay(5), 1.0, places=4)
        self.assertEqual(RetryPolicy(Retries(attempts=3, backoff=2, max_backoff=2), random=lambda: 0.5).delay(1), 1.5)

    def test_only_transient_errors_are_retried_and_only_while_attempts_remain(self):
        policy = RetryPolicy(Retries(attempts=3), [says_passing])
        self.assertTrue(policy.retries_after(1, Passing("lost")))
        self.assertTrue(policy.retries_after(2, Passing("lost")))
        self.assertFalse(policy.retries_after(3, Passing("lost")))  # the last attempt failed
        self.assertFalse(policy.retries_after(1, ValueError("a bad value")))
        self.assertFalse(RetryPolicy(Retries(), [says_passing]).retries_after(1, Passing("lost")))  # one attempt

    def test_an_error_raised_from_or_while_handling_a_transient_one_is_transient(self):
        try:
            try:
                raise Passing("lost")
            except Passing as lost:
                raise IntegrationFailedError("copy", "the target failed") from lost
        except IntegrationFailedError as error:
            raised_from = error
        try:
            try:
                raise Passing("lost")
            except Passing:
                raise RuntimeError("cleaning up failed")  # noqa: B904 - the context is what is tested
        except RuntimeError as error:
            during = error
        self.assertTrue(transient(raised_from, [says_passing]))
        self.assertTrue(transient(during, [says_passing]))
        self.assertFalse(transient(raised_from, []))
        self.assertTrue(transient(TransientFailure("copy", "a reader lost its connection"), []))

    def test_the_judges_are_the_classes_that_serve_the_connections(self):
        registry = AdapterRegistry()
        registry.register(FLAKY)
        judges = judges_of(registry, "rows", Connection("flaky"), Connection("flaky"))  # no source class
        self.assertEqual(judges, [FlakyTarget.transient])
        self.assertEqual(judges_of(registry, "rows", None, Connection("unknown-kind")), [])

    def test_a_transient_failure_crosses_processes_whole(self):
        failure = pickle.loads(pickle.dumps(TransientFailure("copy", "the reader failed")))
        self.assertEqual(
            (type(failure), failure.integration, failure.reason), (TransientFailure, "copy", "the reader failed")
        )
        self.assertEqual(str(failure), "integration 'copy' failed: the reader failed")


class RetriesSettingTest(unittest.TestCase):
    def integration(self, retries):
        return Integration("copy", source=Connection("memory"), target=Connection("memory"), retries=retries)

    def test_a_mapping_becomes_retries_and_none_is_one_attempt(self):
        self.assertEqual(self.integration({"attempts": 4, "backoff": 2}).retries, Retries(4, 2.0, 60.0))
        self.assertEqual(self.integration(None).retries, Retries(attempts=1))
        self.assertEqual(self.integration(Retries(2, 0, 0)).retries, Retries(2, 0, 0))

    def test_every_problem_names_its_key_and_what_was_expected(self):
        cases = {
            "retries.atempts: unknown key (expected one of attempts, backoff, max_backoff); did you mean 'attempts'?": {
                "atempts": 3
            },
            "retries.attempts: expected a whole number, got 'x'": {"attempts": "x"},
            "retries.attempts: expected a whole number, got 2.5": {"attempts": 2.5},
            "retries.backoff: expected a number of seconds, got True": {"backoff": True},
            "retries.attempts: expected 1 or more (1: no retry), got 0": {"attempts": 0},
            "retries.backoff: expected 0 or more seconds, got -1.0": {"backoff": -1, "max_backoff": -1},
            "retries.max_backoff: expected at least backoff (5.0), got 1.0": {"backoff": 5, "max_backoff": 1},
            "retries: expected a mapping of attempts, backoff and max_backoff, got 3": 3,
        }
        for message, retries in cases.items():
            with self.subTest(retries=retries), self.assertRaises(OperationError) as raised:
                self.integration(retries)
            self.assertIn(message, raised.exception.problems)

    def test_the_loader_reports_a_bad_retries_setting_with_the_file_and_integration(self):
        folder = Path(tempfile.mkdtemp(prefix="pdip-retries-"))
        path = folder / "op.yml"
        path.write_text(
            "integrations:\n"
            "  - name: copy\n"
            "    source: {kind: memory, store: a}\n"
            "    target: {kind: memory, store: b}\n"
            "    retries: {attempts: 0, max_backof: 3}\n"
        )
        with self.assertRaises(OperationError) as raised:
            Operation.from_yaml(path)
        text = str(raised.exception)
        self.assertIn("op.yml: integrations[0]", text)
        self.assertIn("retries.max_backof: unknown key", text)
        self.assertIn("did you mean 'max_backoff'?", text)
        path.write_text(path.read_text().replace("{attempts: 0, max_backof: 3}", "{attempts: 3, backoff: 0.5}"))
        self.assertEqual(Operation.from_yaml(path).integrations[0].retries, Retries(3, 0.5, 60.0))


# -- an integration tried again ------------------------------------------------------------------

FAILURES: dict[str, int] = {}  # how many more writes of each store fail, in this process


class FlakyTarget(Target):
    """A memory store whose writes fail while `FAILURES` says so: with a lost connection
    (`transient: true`), or with a bad value."""

    @classmethod
    def transient(cls, error):
        return isinstance(error, Passing)

    def write(self, batch):
        store = self.connection.get("store")
        if FAILURES.get(store, 0) > 0 and any(row[0] >= 300 for row in batch.rows):
            FAILURES[store] -= 1
            raise (Passing if self.connection.get("transient") else ValueError)("the write failed")
        self.context.stores.setdefault(store, []).extend(batch.to_dicts())
        return WriteResult(len(batch))


class FileSource(Source):
    """Numbers from 0 to 999 read in a reader process, 100 a batch, resumed after `resume`; the
    read fails once (a lost connection) at 500 while the marker file `fail` exists."""

    @classmethod
    def transient(cls, error):
        return isinstance(error, Passing)

    def read(self, request):
        start = 0 if request.resume is None else request.resume + 1
        marker = Path(self.connection.get("fail"))
        for first in range(start, 1000, 100):
            if first == 500 and marker.exists():
                marker.unlink()
                raise Passing("the source's connection was lost")
            rows = [(number,) for number in range(first, first + 100)]
            yield Batch(["id"], rows, position=first + 99)


FLAKY = Adapter(("flaky",), None, FlakyTarget)
NUMBERS = Adapter(("numbers",), FileSource, None)


class RetriedIntegrationTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="pdip-retried-")
        self.pdi = Pdi(root_directory=self.folder)
        self.integrator = self.pdi.get(Integrator)
        self.integrator.registry.register(FLAKY)
        self.integrator.registry.register(NUMBERS)
        self.integrator.stores["numbers"] = [{"id": number} for number in range(1000)]
        self.events = []
        self.integrator.subscribe(Event, self.events.append)

    def tearDown(self):
        self.pdi.cleanup()

    def run_copy(self, source, target, attempts, executor="inline"):
        copy = Integration(
            "copy", source=source, target=target, batch_size=100, retries={"attempts": attempts, "backoff": 0}
        )
        return self.integrator.integrate(Operation("retried", [copy], executor=executor))

    def retried(self):
        return [event for event in self.events if isinstance(event, IntegrationRetried)]

    def test_a_transient_write_failure_is_retried_from_the_last_durable_batch(self):
        FAILURES["copy"] = 2
        result = self.run_copy(memory("numbers"), Connection("flaky", {"store": "copy", "transient": True}), 3)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual([row["id"] for row in self.integrator.stores["copy"]], list(range(1000)))  # none twice
        self.assertEqual(result["copy"].retries, 2)
        self.assertEqual([(event.attempt, event.delay) for event in self.retried()], [(2, 0.0), (3, 0.0)])
        self.assertIn("Passing: the write failed", self.retried()[0].error)
        record = self.integrator.state.execution(result.execution_id)
        self.assertIn('"retries": 2', record["summary"])
        shown = "\n".join(execution_details(record, {}))
        self.assertIn("copy: retries: 2 (attempts started again after a failure)", shown)

    def test_attempts_run_out(self):
        FAILURES["copy"] = 5
        result = self.run_copy(memory("numbers"), Connection("flaky", {"store": "copy", "transient": True}), 2)
        self.assertEqual(result.status, "failed")
        self.assertEqual(result["copy"].retries, 1)
        self.assertIn("the write failed", result["copy"].error)
        self.assertEqual(len(self.integrator.stores["copy"]), 300)

    def test_an_error_that_does_not_pass_fails_at_once(self):
        FAILURES["copy"] = 1
        result = self.run_copy(memory("numbers"), Connection("flaky", {"store": "copy"}), 5)
        self.assertEqual(result.status, "failed")
        self.assertEqual(result["copy"].retries, 0)
        self.assertEqual(self.retried(), [])
        self.assertEqual(
            [type(event) for event in self.events if isinstance(event, IntegrationFailed)], [IntegrationFailed]
        )

    def test_a_reader_process_that_lost_its_connection_is_started_again_where_the_target_stands(self):
        marker = Path(self.folder) / "fail"
        marker.touch()
        source = Connection("numbers", {"fail": str(marker)})
        result = self.run_copy(source, memory("copy"), 3, executor="process")
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(result["copy"].retries, 1)
        self.assertIn("TransientFailure", self.retried()[0].error)
        self.assertEqual([row["id"] for row in self.integrator.stores["copy"]], list(range(1000)))
        self.assertEqual(result["copy"].rows_written, 1000)

    def test_a_reader_failure_that_does_not_pass_is_not_retried(self):
        source = Connection("numbers", {"fail": str(Path(self.folder) / "fail")})
        self.integrator.registry.register(Adapter(("numbers",), BrokenSource, None))
        result = self.run_copy(source, memory("copy"), 3, executor="process")
        self.assertEqual((result.status, result["copy"].retries), ("failed", 0))
        self.assertIn("ValueError: a bad row", result["copy"].error)


class BrokenSource(Source):
    def read(self, request):
        raise ValueError("a bad row")
        yield  # a generator, as sources are


def memory(store):
    return Connection("memory", {"store": store})
