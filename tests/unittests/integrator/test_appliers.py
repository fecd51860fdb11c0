import types
import unittest

from pdip.integrator import Connection, Integration
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.executors.appliers import suits
from pdip.integrator.runs.planning import Plan


def run_of(**settings) -> types.SimpleNamespace:
    values = {"mode": "changes", **settings}
    integration = Integration(
        "apply",
        source=Connection("kafka", {"topic": "t"}),
        target=Connection("postgresql", {"table": "t"}),
        **values,
    )
    return types.SimpleNamespace(integration=integration)


def target(commits_per_batch: bool = True, parallel: bool = True) -> types.SimpleNamespace:
    return types.SimpleNamespace(commits_per_batch=commits_per_batch, takes_parallel_writers=parallel)


class SuitsTest(unittest.TestCase):
    def setUp(self):
        self.plan = Plan([ReadRequest(100, partition="t:0"), ReadRequest(100, partition="t:1")], False, None)

    def test_a_change_stream_in_partitions_into_a_target_that_stores_positions_is_applied_per_partition(self):
        self.assertTrue(suits(run_of(), self.plan, True, target()))

    def test_anything_else_keeps_the_single_writer(self):
        whole = Plan([ReadRequest(100)], False, None)
        cases = {
            "rows, not change logs": (run_of(mode="full"), self.plan, True, target()),
            "one partition": (run_of(), whole, True, target()),
            "a target without stored positions": (run_of(), self.plan, False, target()),
            "a target written whole at the end": (run_of(), self.plan, True, target(commits_per_batch=False)),
            "a target with one writer at a time (SQLite)": (run_of(), self.plan, True, target(parallel=False)),
            "a target to create first": (run_of(create_target=True), self.plan, True, target()),
            "a target to empty first": (run_of(truncate_target=True), self.plan, True, target()),
        }
        for case, (run, plan, stores, endpoint) in cases.items():
            with self.subTest(case):
                self.assertFalse(suits(run, plan, stores, endpoint))


class ParallelWritersTest(unittest.TestCase):
    def test_a_database_server_takes_an_applier_per_partition_and_a_sqlite_file_does_not(self):
        from pdip.integrator.adapters.sql.changes import SqlApplyTarget

        context = types.SimpleNamespace(stores={}, execution_id="x", root=None)
        urls = {"postgresql+psycopg://u@127.0.0.1:1/db": True, "sqlite://": False}
        for url, parallel in urls.items():
            with self.subTest(url=url):
                applied = SqlApplyTarget(Connection("sql", {"url": url, "table": "t"}), context)
                self.addCleanup(applied.close)
                self.assertEqual(applied.takes_parallel_writers, parallel)


if __name__ == "__main__":
    unittest.main()
