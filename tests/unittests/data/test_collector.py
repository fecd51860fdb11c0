import gc
import unittest

from pdip.data.collector import fewer_collections


class FewerCollectionsTest(unittest.TestCase):
    def setUp(self):
        self.original = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *self.original)

    def test_the_youngest_generation_is_paced_per_batch_and_restored_after(self):
        gc.set_threshold(700, 10, 10)
        with fewer_collections(50_000):
            self.assertEqual(gc.get_threshold(), (50_000, 10, 10))
        self.assertEqual(gc.get_threshold(), (700, 10, 10))

    def test_restored_when_the_block_raises(self):
        gc.set_threshold(700, 10, 10)
        with self.assertRaises(KeyError), fewer_collections(50_000):
            raise KeyError("x")
        self.assertEqual(gc.get_threshold(), (700, 10, 10))

    def test_a_slower_pace_or_a_collector_turned_off_is_left_alone(self):
        for setting in ((200_000, 5, 5), (0, 10, 10)):
            with self.subTest(setting=setting):
                gc.set_threshold(*setting)
                with fewer_collections(50_000):
                    self.assertEqual(gc.get_threshold(), setting)
                self.assertEqual(gc.get_threshold(), setting)


if __name__ == "__main__":
    unittest.main()
