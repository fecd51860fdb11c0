"""What Delta and Iceberg targets both do with the batches of a commit (`tables.Gathering`):
full batches share a commit of `commit_rows` rows at most, each batch is reported only once its
rows are committed, a resume goes on after the last commit, and another partition's batch starts
a commit of its own. Mixed into the test cases of tests/integrationtests/lakehouse/test_*.py,
which say how their tables are named and what their commits hold."""

from __future__ import annotations

from typing import Any

from pdip.integrator import Connection, Integration
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.batch import Batch
from pdip.integrator.events import BatchWritten
from pdip.integrator.results import RunContext


class GatheringContract:
    """Needs of the case: `lake(**settings)` (a connection to its table), `rows()`, `commits()`
    (how many commits carried a position) and `positions()` (the last position of each slot)."""

    integrator: Any
    pdi: Any
    root: Any

    def copy(self) -> Integration:
        self.integrator.stores["many"] = [{"id": number} for number in range(10)]
        return Integration(
            "many",
            source=Connection("memory", {"store": "many"}),
            target=self.lake(commit_rows=6),
            create_target=True,
            batch_size=3,
        )

    def test_full_batches_share_a_commit_and_each_is_reported_once_its_rows_are_in_the_table(self):
        seen = []  # for each batch reported: its rows, and the rows the table then holds
        self.integrator.subscribe(BatchWritten, lambda event: seen.append((event.rows, len(self.rows()))))
        self.ok(self.copy())
        self.assertEqual(seen, [(3, 6), (3, 6), (3, 10), (1, 10)])  # the short last batch commits the rest
        self.assertEqual(self.commits(), 2)
        self.assertEqual(self.positions(), {"lake/many": 10})  # the operation's slot

    def test_a_run_stopped_after_a_commit_resumes_after_it(self):
        resumed = []

        def interrupt(event: BatchWritten) -> None:
            if not resumed:
                raise KeyboardInterrupt  # at the first batch reported: the first commit is made

        self.integrator.subscribe(BatchWritten, interrupt)
        self.assertEqual(self.integrate(self.copy()).status, "interrupted")
        self.assertEqual(len(self.rows()), 6)
        resumed.append(True)
        self.assertEqual(self.ok(self.copy(), resume=True).integrations[0].rows_written, 4)
        self.assertEqual([row["id"] for row in self.rows()], list(range(10)))

    def test_batches_of_another_partition_start_a_commit_of_their_own(self):
        target = self.pdi.get(AdapterRegistry).target(self.lake(), RunContext(self.integrator.stores, "x", self.root))
        target.position_slot, target.batch_size = "lake/people", 1
        target.prepare(["id"], create=True, truncate=False)
        for number, partition in enumerate(("p1", "p1", "p2"), start=1):
            batch = Batch(["id"], [(number,)], position=number)
            batch.partition = partition
            target.write(batch)
        self.assertTrue(target.holding())  # the batch of p2, full: more may come
        self.assertEqual(self.commits(), 1)
        target.finish()
        self.assertFalse(target.holding())
        self.assertEqual(self.positions(), {"lake/people/p1": 2, "lake/people/p2": 3})

    def test_an_integration_without_a_batch_size_reads_batches_of_many_rows(self):
        # a batch of ten thousand rows (the integrations' default) costs a pipe round trip and a
        # checkpoint per ten thousand rows; the table's files are as large either way
        self.integrator.stores["wide"] = [{"id": number} for number in range(25_000)]
        sizes = []
        self.integrator.subscribe(BatchWritten, lambda event: sizes.append(event.rows))
        self.ok(
            Integration("wide", source=Connection("memory", {"store": "wide"}), target=self.lake(), create_target=True)
        )
        self.assertEqual(sizes, [25_000])
        self.assertEqual(len(self.rows()), 25_000)
