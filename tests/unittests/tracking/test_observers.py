import asyncio
import threading
import unittest

from pdip.tracking import AsyncQueueObserver, CallbackObserver, ChangeCollector, ChangeLogEntry, TrackedDict


class ChangeCollectorTest(unittest.TestCase):
    def test_keeps_the_newest_entries_up_to_its_limit(self):
        collector = ChangeCollector(limit=2)
        cart = TrackedDict(observers=[collector])
        for number in range(3):
            cart[number] = number
        self.assertEqual(len(collector), 2)
        self.assertEqual([e.key for e in collector], [1, 2])
        self.assertEqual([e.key for e in collector.entries], [1, 2])
        self.assertEqual(collector.limit, 2)
        self.assertEqual(repr(collector), "ChangeCollector(2 entries, limit=2)")

    def test_drain_and_clear(self):
        collector = ChangeCollector(limit=None)
        cart = TrackedDict(observers=[collector])
        cart["a"] = 1
        cart["b"] = 2
        self.assertEqual([e.key for e in collector.drain()], ["a", "b"])
        self.assertEqual(len(collector), 0)
        cart["c"] = 3
        collector.clear()
        self.assertEqual(collector.entries, [])

    def test_limit_must_be_positive(self):
        for wrong in (0, -1, True, 2.5):
            with self.subTest(limit=wrong), self.assertRaisesRegex(ValueError, "limit is a number of entries"):
                ChangeCollector(limit=wrong)

    def test_priority_is_used_by_the_tracker(self):
        calls = []
        collector = ChangeCollector(priority=5)
        cart = TrackedDict(observers=[calls.append, collector])
        self.assertIs(cart.tracker.observers[0], collector)


class CallbackObserverTest(unittest.TestCase):
    def test_filters_by_action_path_and_entity(self):
        seen = []
        observer = CallbackObserver(seen.append, actions=["set"], paths=["orders[*].status"], entities="shop")
        shop = TrackedDict({"orders": [{"status": "new"}]}, name="shop", observers=[observer])
        shop["orders"][0]["status"] = "paid"
        shop["orders"][0]["total"] = 3
        shop["orders"].append({"status": "new"})
        self.assertEqual([e.path for e in seen], ["orders[0].status"])
        other = TrackedDict({"orders": [{"status": "new"}]}, name="elsewhere", observers=[observer])
        other["orders"][0]["status"] = "paid"
        self.assertEqual(len(seen), 1)

    def test_without_filters_everything_matches(self):
        observer = CallbackObserver(lambda entry: None)
        self.assertTrue(observer.matches(ChangeLogEntry("clear")))
        self.assertIn("lambda", repr(observer))

    def test_callback_must_be_callable(self):
        with self.assertRaisesRegex(TypeError, "callback must be callable; got str"):
            CallbackObserver("print")


class AsyncQueueObserverTest(unittest.TestCase):
    def test_entries_from_the_loop_and_from_other_threads_reach_the_queue(self):
        async def scenario():
            observer = AsyncQueueObserver()
            cart = TrackedDict(observers=[observer])
            cart["in loop"] = 1
            thread = threading.Thread(target=cart.__setitem__, args=("in thread", 2))
            thread.start()
            thread.join()
            first = await asyncio.wait_for(observer.get(), 5)
            second = await asyncio.wait_for(observer.get(), 5)
            return [first.key, second.key], repr(observer)

        keys, shown = asyncio.run(scenario())
        self.assertEqual(keys, ["in loop", "in thread"])
        self.assertEqual(shown, "AsyncQueueObserver(0 queued, dropped=0)")

    def test_a_full_queue_counts_and_reports_what_it_could_not_take(self):
        async def scenario():
            overflow = []
            observer = AsyncQueueObserver(maxsize=1, on_full=overflow.append)
            cart = TrackedDict(observers=[observer])
            cart["a"] = 1
            cart["b"] = 2
            observer_without_callback = AsyncQueueObserver(maxsize=1)
            observer_without_callback(cart.last_change())
            observer_without_callback(cart.last_change())
            return observer.dropped, [e.key for e in overflow], observer_without_callback.dropped

        self.assertEqual(asyncio.run(scenario()), (1, ["b"], 1))

    def test_a_closed_loop_is_an_observer_error_not_a_lost_change(self):
        loop = asyncio.new_event_loop()
        observer = AsyncQueueObserver(loop)
        loop.close()
        cart = TrackedDict(observers=[observer], logger=_Quiet())
        cart["a"] = 1
        self.assertEqual(cart, {"a": 1})
        self.assertEqual(cart.tracker.observer_errors, 1)


class _Quiet:
    def exception(self, message, *args):
        self.last = message % args


if __name__ == "__main__":
    unittest.main()
