import unittest

from pdip.integrator import Connection, Integration, Operation, OperationError
from pdip.integrator.adapters import AdapterRegistry
from pdip.integrator.checks import adapter_problems, refuse_invalid


def split_memory_read(parallelism: int) -> Operation:
    return Operation(
        "split",
        [
            Integration(
                "copy",
                source=Connection("memory", {"store": "in"}),
                target=Connection("memory", {"store": "out"}),
                parallelism=parallelism,
            )
        ],
        executor="inline",
    )


class ParallelismTest(unittest.TestCase):
    def test_a_split_read_of_a_source_that_reads_whole_is_refused_not_ignored(self):
        with self.assertRaises(OperationError) as raised:
            refuse_invalid(split_memory_read(3), AdapterRegistry())
        self.assertIn("integration 'copy': parallelism: 3, but a memory source is read whole", str(raised.exception))

    def test_validate_reports_it_with_the_other_adapter_problems(self):
        self.assertEqual(
            adapter_problems(split_memory_read(2), AdapterRegistry()),
            [
                "integration 'copy': parallelism: 2, but a memory source is read whole (it cannot be split); "
                "leave parallelism at 1"
            ],
        )

    def test_one_reader_is_always_fine_and_a_source_that_splits_may_be_split(self):
        self.assertEqual(adapter_problems(split_memory_read(1), AdapterRegistry()), [])
        table = Operation(
            "split",
            [
                Integration(
                    "copy",
                    source=Connection("sqlite", {"database": "a.db", "table": "t"}),
                    target=Connection("memory", {"store": "out"}),
                    parallelism=2,
                )
            ],
        )
        self.assertEqual(adapter_problems(table, AdapterRegistry()), [])


if __name__ == "__main__":
    unittest.main()
