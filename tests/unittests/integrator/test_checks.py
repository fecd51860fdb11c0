import unittest

from pdip.integrator import Connection, Integration, Operation, OperationError
from pdip.integrator.adapters import Adapter, AdapterRegistry, Source
from pdip.integrator.checks import adapter_problems, executor_problems, parallelism_problems, refuse_invalid


class ReadOnlySource(Source):
    def read(self, request):
        yield from ()


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


class UnknownKindsTest(unittest.TestCase):
    def test_kinds_no_adapter_serves_and_targets_that_cannot_be_written_are_left_to_their_own_checks(self):
        registry = AdapterRegistry()
        registry.register(Adapter(("readonly",), ReadOnlySource, None))
        operation = Operation(
            "odd",
            [
                Integration(
                    "a", source=Connection("nosuch"), target=Connection("sqlite", {"table": "t"}), parallelism=2
                ),
                Integration("b", source=Connection("readonly"), target=Connection("readonly")),
            ],
            executor="dask",
        )
        self.assertEqual(executor_problems(operation, registry), [])  # neither is the executor's to report
        self.assertEqual(parallelism_problems(operation, registry), [])
        self.assertFalse(registry.knows("nosuch"))
        self.assertTrue(registry.knows("readonly") and registry.knows("POSTGRESQL", "changes"))
        self.assertIn(
            "integration 'b': target: readonly connections cannot be written to", adapter_problems(operation, registry)
        )


if __name__ == "__main__":
    unittest.main()
