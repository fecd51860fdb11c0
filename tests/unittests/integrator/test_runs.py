"""How an integration plans, resumes, splits, acknowledges and applies policy (no servers)."""

import dataclasses
import json
import math
import tempfile
import time
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Batch, Connection, Integration, Integrator, Operation, StateStore
from pdip.integrator.adapters import Adapter, Capabilities, Source, Target, WriteResult
from pdip.integrator.errors import ExecutionExistsError, NothingToResumeError
from pdip.integrator.state import Checkpoint
from pdip.tracking import ChangeLogEntry


class NumbersSource(Source):
    """The numbers 0 .. total-1 in one column `n`; a batch's position is the next number to read.
    Splits into ranges; appends every acknowledged position to the file `acks` when given."""

    def read(self, request):
        low, high = request.bounds or (0, self.connection.get("total"))
        start = request.resume if request.resume is not None else low
        for first in range(start, high, request.batch_size):
            last = min(first + request.batch_size, high)
            _note(self.connection.get("events"), f"read {last}")
            yield Batch(["n", "password"], [(n, f"secret-{n}") for n in range(first, last)], position=last)

    def partitions(self, request, count):
        total = self.connection.get("total")
        step = math.ceil(total / count)
        return [
            dataclasses.replace(request, partition=f"{index + 1}/{count}", bounds=(low, min(low + step, total)))
            for index, low in enumerate(range(0, total, step))
        ]

    def acknowledge(self, position):
        acks = self.connection.get("acks")
        if acks:
            with open(acks, "a", encoding="utf-8") as file:
                file.write(f"{position}\n")


def _note(events, line):
    if events:
        with open(events, "a", encoding="utf-8") as file:
            file.write(f"{line}\n")


class StreamSource(NumbersSource):
    resumes_between_runs = True


class CollectingTarget(Target):
    """Appends rows to the store `out`; raises once when it meets the number `fail_at` (or
    KeyboardInterrupt with `interrupt: true`), as a crash mid-run would."""

    def write(self, batch):
        stores = self.context.stores
        fail_at = self.connection.get("fail_at")
        if fail_at is not None and not stores.get("failed") and any(row[0] == fail_at for row in batch.rows):
            stores["failed"] = True
            raise KeyboardInterrupt if self.connection.get("interrupt") else RuntimeError(f"crashed at {fail_at}")
        stores.setdefault(self.connection.get("store", "out"), []).extend(batch.to_dicts())
        return WriteResult(len(batch))


class PositionTarget(CollectingTarget):
    """Keeps each batch's position with its rows, as a SQL target does in one transaction."""

    def write(self, batch):
        written = super().write(batch)
        if self.position_slot:
            slot = f"{self.position_slot}/{batch.partition}" if batch.partition else self.position_slot
            self.context.stores.setdefault("positions", {})[slot] = batch.position
        return written

    def durable_position(self, slot):
        return self.context.stores.get("positions", {}).get(slot)

    def forget_positions(self, slot):
        positions = self.context.stores.get("positions", {})
        for name in [name for name in positions if name.startswith(slot)]:
            del positions[name]


class SlowTarget(CollectingTarget):
    """Takes a while over each batch and notes it in the file `events`."""

    def write(self, batch):
        time.sleep(0.01)
        written = super().write(batch)
        _note(self.connection.get("events"), f"wrote {batch.position}")
        return written


class StagedTarget(CollectingTarget):
    commits_per_batch = False


class EntriesSource(Source):
    """Change-log entries about customers, one per number."""

    resumes_between_runs = True

    def read(self, request):
        start = request.resume or 0
        for first in range(start, self.connection.get("total"), request.batch_size):
            last = min(first + request.batch_size, self.connection.get("total"))
            entries = [
                ChangeLogEntry("insert", entity="customers", key=n, after={"id": n, "password": f"pw{n}"})
                for n in range(first, last)
            ]
            yield Batch(["entry"], [(entry,) for entry in entries], position=last)


class EntriesTarget(Target):
    def write(self, batch):
        self.context.stores.setdefault("entries", []).extend(row[0] for row in batch.rows)
        return WriteResult(len(batch), [((row[0],), "refused") for row in batch.rows if row[0].key == 3])


class SplitEntriesSource(EntriesSource):
    """Two entries per partition, the partitions numbered from 0."""

    def read(self, request):
        low, high = request.bounds
        entries = [
            ChangeLogEntry("insert", entity="customers", key=n, after={"id": n, "password": "pw"})
            for n in range(low, high)
        ]
        yield Batch(["entry"], [(entry,) for entry in entries], position=high)

    def partitions(self, request, count):
        return [
            dataclasses.replace(request, partition=f"{i + 1}/{count}", bounds=(2 * i, 2 * i + 2)) for i in range(count)
        ]


class ParallelEntriesTarget(EntriesTarget):
    """Takes several writers, keeps positions with its rows (it keeps nothing: appliers run in
    processes of their own)."""

    takes_parallel_writers = True

    def write(self, batch):
        return WriteResult(len(batch))

    def durable_position(self, slot):
        return None

    def forget_positions(self, slot):
        pass


ADAPTERS = [
    Adapter(("numbers",), NumbersSource, None, Capabilities(partitioned_read=True)),
    Adapter(("stream",), StreamSource, None, Capabilities(partitioned_read=True)),
    Adapter(("collect",), None, CollectingTarget),
    Adapter(("positions",), None, PositionTarget, Capabilities(stores_positions=True)),
    Adapter(("staged",), None, StagedTarget),
    Adapter(("slow",), None, SlowTarget),
    Adapter(("entries",), EntriesSource, EntriesTarget, mode="changes"),
    Adapter(
        ("split-entries",),
        SplitEntriesSource,
        ParallelEntriesTarget,
        Capabilities(partitioned_read=True, stores_positions=True),
        mode="changes",
    ),
]


class RunsTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-runs-"))
        self.pdi = Pdi(root_directory=self.root)
        self.integrator = self.pdi.get(Integrator)
        for adapter in ADAPTERS:
            self.integrator.registry.register(adapter)
        self.state = self.pdi.get(StateStore)

    def tearDown(self):
        self.pdi.cleanup()

    def operation(self, *integrations, executor="inline"):
        return Operation("numbers", list(integrations), executor=executor)

    def numbers(self, name="copy", total=20, target="collect", source="numbers", **settings):
        target_settings = {key: settings.pop(key) for key in ("fail_at", "interrupt", "store") if key in settings}
        events = settings.pop("events", None)
        target_settings.update({"events": events} if events else {})
        return Integration(
            name,
            source=Connection(source, {"total": total, "acks": settings.pop("acks", None), "events": events}),
            target=Connection(target, target_settings),
            **settings,
        )

    def written(self, store="out"):
        return [row["n"] for row in self.integrator.stores.get(store, [])]

    # -- partitions and acknowledgements -----------------------------------------------------------

    def test_a_split_source_is_read_by_one_process_per_partition_and_each_acknowledges_its_batches(self):
        acks = self.root / "acks.txt"
        operation = self.operation(
            self.numbers(total=30, batch_size=4, parallelism=3, acks=str(acks)), executor="process"
        )
        result = self.integrator.integrate(operation)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(sorted(self.written()), list(range(30)))
        self.assertEqual(self.state.checkpoint("numbers", "copy").positions, {"1/3": 10, "2/3": 20, "3/3": 30})
        acknowledged = sorted(int(line) for line in acks.read_text().split())
        self.assertEqual(acknowledged, [4, 8, 10, 14, 18, 20, 24, 28, 30])

    def test_a_reader_process_waits_for_the_writer_instead_of_queueing_small_batches(self):
        """A reader at most two batches ahead: what arrives while the writer is busy goes into
        the next read (one bigger batch) instead of queueing many small ones in the pipe."""
        events = self.root / "events.txt"
        operation = self.operation(
            self.numbers(total=30, batch_size=1, target="slow", events=str(events)), executor="process"
        )
        result = self.integrator.integrate(operation)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(self.written(), list(range(30)))
        lines = events.read_text().split("\n")
        for index, line in enumerate(lines):
            if line.startswith("read "):
                batch, wrote_before = int(line.split()[1]), sum(1 for seen in lines[:index] if seen.startswith("wrote"))
                self.assertGreaterEqual(wrote_before, batch - 2, f"batch {batch} read ahead of the writer")

    def test_a_writer_that_fails_ends_its_reader_processes(self):
        import multiprocessing

        operation = self.operation(
            self.numbers(total=100_000, batch_size=5, fail_at=12, parallelism=2), executor="process"
        )
        result = self.integrator.integrate(operation)
        self.assertEqual(result.status, "failed")
        self.assertIn("crashed at 12", result["copy"].error)
        self.assertEqual([child.name for child in multiprocessing.active_children() if "pdip-reader" in child.name], [])

    def test_inline_partitions_are_read_one_after_the_other_and_acknowledged_in_this_process(self):
        acks = self.root / "acks.txt"
        result = self.integrator.integrate(
            self.operation(self.numbers(total=9, batch_size=5, parallelism=2, acks=str(acks)))
        )
        self.assertTrue(result.ok)
        self.assertEqual(self.written(), list(range(9)))
        self.assertEqual(acks.read_text().split(), ["5", "9"])

    # -- resuming ------------------------------------------------------------------------------------

    def test_a_resumed_run_continues_after_the_last_durable_batch_under_the_same_execution(self):
        operation = self.operation(self.numbers(batch_size=5, fail_at=12))
        failed = self.integrator.integrate(operation)
        self.assertEqual(failed.status, "failed")
        self.assertEqual(self.written(), list(range(10)))
        resumed = self.integrator.integrate(operation, resume=True)
        self.assertTrue(resumed.ok)
        self.assertEqual(resumed.execution_id, failed.execution_id)
        self.assertEqual(resumed["copy"].rows_read, 10)
        self.assertEqual(self.written(), list(range(20)))
        self.assertEqual(self.state.executions()[0]["status"], "finished")

    def test_resume_skips_the_integrations_the_interrupted_run_finished(self):
        operation = self.operation(
            self.numbers("first", total=6, store="first"), self.numbers("second", batch_size=5, fail_at=7)
        )
        self.assertEqual(self.integrator.integrate(operation).status, "failed")
        resumed = self.integrator.integrate(operation, resume=True)
        self.assertTrue(resumed.ok)
        self.assertEqual(self.written("first"), list(range(6)))
        self.assertEqual(resumed["first"].rows_read, 0)
        self.assertEqual(self.written(), list(range(20)))

    def test_a_target_that_stores_positions_is_trusted_over_an_older_checkpoint(self):
        operation = self.operation(self.numbers(batch_size=5, fail_at=12, target="positions"))
        failed = self.integrator.integrate(operation)
        self.assertEqual(self.integrator.stores["positions"], {"numbers/copy": 10})
        # a crash after the target committed and before the checkpoint was saved
        self.state.save_checkpoint("numbers", "copy", Checkpoint(failed.execution_id, {"": 5}))
        self.assertTrue(self.integrator.integrate(operation, resume=True).ok)
        self.assertEqual(self.written(), list(range(20)))

    def test_a_fresh_run_starts_over_and_the_target_forgets_earlier_positions(self):
        operation = self.operation(self.numbers(total=6, parallelism=2, target="positions"))
        self.integrator.integrate(operation)
        self.integrator.stores["positions"]["numbers/copy/stale"] = 99
        self.assertTrue(self.integrator.integrate(operation).ok)
        self.assertEqual(self.written(), list(range(6)) * 2)
        self.assertEqual(self.integrator.stores["positions"], {"numbers/copy/1/2": 3, "numbers/copy/2/2": 6})

    def test_a_target_that_commits_only_at_the_end_starts_over_on_resume(self):
        operation = self.operation(self.numbers(batch_size=5, fail_at=12, target="staged"))
        self.integrator.integrate(operation)
        self.integrator.stores["out"] = []  # what a staged target keeps of a failed run
        self.assertTrue(self.integrator.integrate(operation, resume=True).ok)
        self.assertEqual(self.written(), list(range(20)))

    def test_resume_with_no_unfinished_run_is_refused_and_moves_nothing(self):
        operation = self.operation(self.numbers(total=3))
        self.integrator.integrate(operation)
        with self.assertRaises(NothingToResumeError) as raised:
            self.integrator.integrate(operation, resume=True)
        self.assertEqual(
            str(raised.exception),
            f"operation 'numbers' has no unfinished run to resume (state database: SQLite file "
            f"{self.root.resolve() / '.pdip' / 'state.db'}); run it without --resume to start a new one",
        )
        self.assertEqual(self.written(), [0, 1, 2])
        self.assertEqual(len(self.state.executions()), 1)

    def test_resuming_an_unknown_a_finished_or_another_operation_s_execution_is_refused(self):
        operation = self.operation(self.numbers(total=3))
        first = self.integrator.integrate(operation, execution_id="first")
        self.state.start_execution("other-operation", "elsewhere")
        refusals = {}
        for execution_id in ("missing", "first", "elsewhere"):
            with self.assertRaises(NothingToResumeError) as raised:
                self.integrator.integrate(operation, execution_id=execution_id, resume=True)
            refusals[execution_id] = str(raised.exception).split(" (state database")[0]
        self.assertEqual(
            refusals,
            {
                "missing": "no execution 'missing' to resume for operation 'numbers'",
                "first": "execution 'first' of operation 'numbers' finished; nothing to resume",
                "elsewhere": "execution 'elsewhere' is a run of operation 'other-operation', not 'numbers'",
            },
        )
        self.assertTrue(first.ok)
        self.assertEqual(self.written(), [0, 1, 2])

    def test_a_new_run_under_an_existing_execution_id_is_refused_and_the_record_kept(self):
        operation = self.operation(self.numbers(total=3, batch_size=1, fail_at=2))
        self.integrator.integrate(operation, execution_id="nightly")
        before = self.state.execution("nightly")
        with self.assertRaises(ExecutionExistsError) as raised:
            self.integrator.integrate(operation, execution_id="nightly")
        self.assertIn("execution 'nightly' already exists (status failed", str(raised.exception))
        self.assertIn("continue it with --resume", str(raised.exception))
        self.assertEqual(self.state.execution("nightly"), before)
        self.assertEqual(self.written(), [0, 1])
        self.assertTrue(self.integrator.integrate(operation, execution_id="nightly", resume=True).ok)
        with self.assertRaises(ExecutionExistsError) as raised:
            self.integrator.integrate(operation, execution_id="nightly")
        self.assertIn("(status finished", str(raised.exception))
        self.assertNotIn("--resume", str(raised.exception))  # a finished run has nothing to continue

    def test_a_stream_source_continues_where_the_last_run_stopped(self):
        operation = self.operation(self.numbers(total=4, source="stream"))
        self.integrator.integrate(operation)
        operation.integrations[0].source = Connection("stream", {"total": 7})
        result = self.integrator.integrate(operation)
        self.assertEqual(result["copy"].rows_read, 3)
        self.assertEqual(self.written(), list(range(7)))

    def test_ctrl_c_ends_the_run_as_interrupted_with_what_was_written_checkpointed(self):
        operation = self.operation(self.numbers(batch_size=5, fail_at=7, interrupt=True))
        result = self.integrator.integrate(operation)
        self.assertEqual(result.status, "interrupted")
        self.assertIn("interrupted by the user", result["copy"].error)
        self.assertEqual(self.state.executions()[0]["status"], "interrupted")
        self.assertEqual(self.state.checkpoint("numbers", "copy").positions, {"": 5})

    # -- policy ----------------------------------------------------------------------------------

    def test_rows_pass_untouched_unless_the_integration_asks_for_the_policy(self):
        self.integrator.integrate(self.operation(self.numbers(total=2)))
        self.assertEqual(self.integrator.stores["out"][0]["password"], "secret-0")
        self.integrator.integrate(self.operation(self.numbers(total=2, policy=True, parallelism=2)))
        self.assertEqual([row["password"] for row in self.integrator.stores["out"][2:]], ["<redacted>"] * 2)

    def test_reader_processes_apply_the_policy_and_report_the_rows_they_read_before_it(self):
        (self.root / "no_odd.yml").write_text(
            "rules:\n  - column: n\n    action: drop_record\n    equals: 3\n", encoding="utf-8"
        )
        operation = self.operation(self.numbers(total=6, parallelism=2, policy="no_odd.yml"), executor="process")
        result = self.integrator.integrate(operation)
        self.assertEqual((result["copy"].rows_read, result["copy"].rows_written), (6, 5))
        self.assertEqual(sorted(row["n"] for row in self.integrator.stores["out"]), [0, 1, 2, 4, 5])
        self.assertEqual({row["password"] for row in self.integrator.stores["out"]}, {"<redacted>"})

    def test_the_policy_s_counts_are_kept_in_the_result_and_the_execution_record(self):
        first = self.integrator.integrate(self.operation(self.numbers(total=3, policy=True)))
        (label,) = first["copy"].policy["redact"]
        self.assertEqual(first["copy"].policy, {"redact": {label: 3}})
        self.assertTrue(label.startswith("source:"), label)
        second = self.integrator.integrate(self.operation(self.numbers(total=2, policy=True)))
        self.assertEqual(second["copy"].policy, {"redact": {label: 2}})  # this run's, not the policy's total
        stored = json.loads(self.state.execution(second.execution_id)["summary"])
        self.assertEqual(stored["copy"]["policy"], {"redact": {label: 2}})
        unfiltered = self.integrator.integrate(self.operation(self.numbers(total=2)))
        self.assertEqual(unfiltered["copy"].policy, {})

    def test_counts_made_in_reader_processes_reach_the_result(self):
        (self.root / "no_three.yml").write_text(
            "rules:\n  - column: n\n    action: drop_record\n    equals: 3\n", encoding="utf-8"
        )
        operation = self.operation(self.numbers(total=6, parallelism=2, policy="no_three.yml"), executor="process")
        result = self.integrator.integrate(operation)
        counts = {action: sum(by_scope.values()) for action, by_scope in result["copy"].policy.items()}
        self.assertEqual(counts, {"drop_record": 1, "redact": 6})  # as the policy counts: whole columns
        plain = self.integrator.integrate(self.operation(self.numbers(total=2, parallelism=2), executor="process"))
        self.assertEqual((plain["copy"].rows_written, plain["copy"].policy), (2, {}))

    def test_counts_made_in_applier_processes_reach_the_result(self):
        integration = Integration(
            "apply",
            source=Connection("split-entries"),
            target=Connection("split-entries"),
            mode="changes",
            parallelism=2,
        )
        result = self.integrator.integrate(Operation("appliers", [integration], executor="process"))
        self.assertTrue(result.ok, result["apply"].error)
        self.assertEqual(result["apply"].rows_written, 4)
        counts = {action: sum(by_scope.values()) for action, by_scope in result["apply"].policy.items()}
        self.assertEqual(counts, {"redact": 4})  # each applier's copy of the policy redacted its passwords

    def test_a_policy_file_named_by_the_integration_adds_its_rules(self):
        (self.root / "hide_numbers.yml").write_text("rules:\n  - column: n\n    action: redact\n", encoding="utf-8")
        self.integrator.integrate(self.operation(self.numbers(total=2, policy="hide_numbers.yml")))
        self.assertEqual(self.integrator.stores["out"], [{"n": "<redacted>", "password": "<redacted>"}] * 2)

    def test_change_log_entries_get_the_policy_by_default_and_refused_ones_are_dead_lettered(self):
        integration = Integration(
            "changes",
            source=Connection("entries", {"total": 5}),
            target=Connection("entries"),
            mode="changes",
            max_errors=5,
        )
        result = self.integrator.integrate(self.operation(integration))
        self.assertTrue(result.ok, result["changes"].error)
        entries = self.integrator.stores["entries"]
        self.assertEqual([entry.key for entry in entries], [0, 1, 2, 3, 4])
        self.assertEqual({entry.after["password"] for entry in entries}, {"<redacted>"})
        letters = self.state.dead_letters(result.execution_id)
        self.assertEqual([(letter["row"]["entry"]["key"], letter["reason"]) for letter in letters], [(3, "refused")])


if __name__ == "__main__":
    unittest.main()
