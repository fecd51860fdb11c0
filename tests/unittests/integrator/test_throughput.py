"""Throughput samples kept with an execution: bounded however long the run, joined per execution."""

import unittest

from pdip.integrator.throughput import MAX_SAMPLES, add_sample, joined


class ThroughputTest(unittest.TestCase):
    def test_samples_are_kept_as_seconds_and_rows_so_far(self):
        samples = []
        add_sample(samples, 0.12345, 10)
        add_sample(samples, 0.5, 20)
        self.assertEqual(samples, [[0.123, 10], [0.5, 20]])

    def test_a_long_run_keeps_at_most_max_samples_and_always_its_last(self):
        samples = []
        for batch in range(1, 10_001):
            add_sample(samples, batch / 10, batch * 100)
            self.assertLessEqual(len(samples), MAX_SAMPLES)
        self.assertEqual(samples[-1], [1000.0, 1_000_000])
        self.assertEqual(samples[0], [0.1, 100])
        self.assertEqual(samples, sorted(samples))  # still in order: any two give the rate between them

    def test_halving_keeps_the_first_and_the_newest_samples(self):
        samples = [[float(index), index] for index in range(MAX_SAMPLES)]
        add_sample(samples, 500.0, 500)
        self.assertEqual(samples[:2], [[0.0, 0], [2.0, 2]])
        self.assertEqual(samples[-3:], [[198.0, 198], [199.0, 199], [500.0, 500]])
        self.assertEqual(len(samples), MAX_SAMPLES // 2 + 2)

    def test_an_executions_integrations_are_joined_one_after_the_other(self):
        integrations = [
            {"throughput": [[1.0, 10], [2.0, 30]], "seconds": 2.5},
            {"throughput": [], "seconds": 0.5},  # nothing written: only its time counts
            {"throughput": [[0.5, 5]]},  # no seconds stored: its last sample's
            {"throughput": [[1.0, 1]], "seconds": 1.0},
        ]
        self.assertEqual(joined(integrations), [[1.0, 10], [2.0, 30], [3.5, 35], [4.5, 36]])
        self.assertEqual(joined([]), [])


if __name__ == "__main__":
    unittest.main()
