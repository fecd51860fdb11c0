import types
import unittest

from pdip.integrator import Connection, Integration
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.appliers import suits
from pdip.integrator.runs import Plan


def run_of(**settings) -> types.SimpleNamespace:
    values = {"mode": "changes", **settings}
    integration = Integration(
        "apply",
        source=Connection("kafka", {"topic": "t"}),
        target=Connection("postgresql", {"table": "t"}),
        **values,
    )
    return types.SimpleNamespace(integration=integration)


class SuitsTest(unittest.TestCase):
    def setUp(self):
        self.plan = Plan([ReadRequest(100, partition="t:0"), ReadRequest(100, partition="t:1")], False, None)

    def test_a_change_stream_in_partitions_into_a_target_that_stores_positions_is_applied_per_partition(self):
        self.assertTrue(suits(run_of(), self.plan, stores_positions=True, commits_per_batch=True))

    def test_anything_else_keeps_the_single_writer(self):
        whole = Plan([ReadRequest(100)], False, None)
        cases = {
            "rows, not change logs": (run_of(mode="full"), self.plan, True, True),
            "one partition": (run_of(), whole, True, True),
            "a target without stored positions": (run_of(), self.plan, False, True),
            "a target written whole at the end": (run_of(), self.plan, True, False),
            "a target to create first": (run_of(create_target=True), self.plan, True, True),
            "a target to empty first": (run_of(truncate_target=True), self.plan, True, True),
        }
        for case, (run, plan, stores, commits) in cases.items():
            with self.subTest(case):
                self.assertFalse(suits(run, plan, stores, commits))


if __name__ == "__main__":
    unittest.main()
