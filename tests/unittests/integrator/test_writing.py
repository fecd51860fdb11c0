import unittest

from pdip.integrator import Connection, Integration, Operation, OperationError
from pdip.integrator.adapters import Adapter, AdapterRegistry, ReadRequest, Source, Target
from pdip.integrator.adapters.base import WriteResult
from pdip.integrator.batch import Batch
from pdip.integrator.checks import refuse_invalid
from pdip.integrator.runs.partitions import PartitionJob, PartitionWorker
from pdip.integrator.runs.reporting import BatchDone, RowsRefused
from pdip.integrator.runs.writing import BatchWriter, high_watermark


class HighWatermarkTest(unittest.TestCase):
    def test_a_batch_whose_cursor_is_null_throughout_keeps_the_current_mark(self):
        self.assertEqual(high_watermark(Batch(["at"], [(None,), (None,)]), "at", 5), 5)

    def test_the_highest_value_wins_and_a_lower_one_does_not_move_the_mark_back(self):
        self.assertEqual(high_watermark(Batch(["at"], [(3,), (None,), (9,)]), "at", 5), 9)
        self.assertEqual(high_watermark(Batch(["at"], [(3,)]), "at", 5), 5)


CLOSED = []


class RecordedSource(Source):
    def read(self, request):
        yield from ()

    def close(self):
        CLOSED.append("source")


class BrokenTarget(Target):
    def __init__(self, connection, context):
        raise RuntimeError("no such database")

    def write(self, batch):  # pragma: no cover - never built
        raise AssertionError


class PartitionWorkerTest(unittest.TestCase):
    def test_a_target_that_cannot_be_opened_gives_the_source_back_first(self):
        registry = AdapterRegistry()
        registry.register(Adapter(("recorded",), RecordedSource, None))
        registry.register(Adapter(("broken",), None, BrokenTarget))
        integration = Integration("copy", source=Connection("recorded"), target=Connection("broken"))
        job = PartitionJob(integration, ReadRequest(10), "rows", "op/copy", False, "run-1", None, None)
        CLOSED.clear()
        with self.assertRaisesRegex(RuntimeError, "no such database"):
            PartitionWorker(job, registry, lambda message: None)
        self.assertEqual(CLOSED, ["source"])


class GatheringTarget(Target):
    """Holds batches until it has `size` rows or is finished, as a Delta target does."""

    def __init__(self, size: int):
        super().__init__(Connection("gathering"), None)
        self.size, self.held, self.committed = size, 0, 0

    def write(self, batch):
        self.held += len(batch)
        if self.held >= self.size:
            self.finish()
        return WriteResult(len(batch), [(batch.rows[0], "refused")])

    def holding(self):
        return bool(self.held)

    def finish(self):
        self.committed, self.held = self.committed + self.held, 0


class HeldBatchesTest(unittest.TestCase):
    def test_batches_a_target_holds_are_reported_and_acknowledged_once_committed_in_order(self):
        target, reports, acknowledged = GatheringTarget(4), [], []
        integration = Integration("copy", source=Connection("memory"), target=Connection("gathering"), batch_size=2)
        writer = BatchWriter(integration, target, None, reports.append, acknowledged.append, False, prepared=True)
        self.assertEqual(target.batch_size, 2)
        batches = [Batch(["id"], [(number,), (number + 1,)], position=number) for number in (0, 2, 4)]
        batches[2].rejected = [({"id": "x"}, "not a number")]  # what the source could not read
        writer.write(batches[0])
        self.assertEqual((reports, acknowledged), ([], []))  # held: a crash now would lose it, so nothing said
        writer.write(batches[1])  # four rows: committed
        self.assertEqual([type(message) for message in reports], [RowsRefused, BatchDone] * 2)
        self.assertEqual([message.position for message in reports if isinstance(message, BatchDone)], [0, 2])
        self.assertEqual(acknowledged, batches[:2])
        writer.write(batches[2])
        self.assertEqual(len(acknowledged), 2)
        writer.finish()  # the last batch committed by finish, then reported
        self.assertEqual([type(message) for message in reports[4:]], [RowsRefused, RowsRefused, BatchDone])
        self.assertEqual(acknowledged, batches)
        self.assertEqual((target.committed, reports[-1].position), (6, 4))


def memory_copy(executor: str) -> Operation:
    copy = Integration("copy", source=Connection("memory", {"store": "a"}), target=Connection("memory", {"store": "b"}))
    return Operation("m", [copy], executor=executor)


class ExecutorProblemsTest(unittest.TestCase):
    def test_dask_is_refused_for_a_memory_store_before_a_cluster_is_started(self):
        with self.assertRaisesRegex(OperationError, "a memory source lives in the calling process"):
            refuse_invalid(memory_copy("dask"), AdapterRegistry())

    def test_an_executor_of_no_known_name_is_refused(self):
        with self.assertRaisesRegex(OperationError, "executor: expected one of inline, process, dask, got 'cluster'"):
            refuse_invalid(memory_copy("cluster"), AdapterRegistry())


if __name__ == "__main__":
    unittest.main()
