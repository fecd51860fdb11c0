import datetime as dt
import logging
import time
import unittest

from pdip.tracking import ChangeLogEntry, TrackedDict, TrackedList, Tracker


class RecordingLogger:
    def __init__(self):
        self.lines = []

    def exception(self, message, *args):
        self.lines.append(message % args)


class HistoryTest(unittest.TestCase):
    def test_history_is_a_ring_buffer(self):
        items = TrackedList(history=3)
        for number in range(10):
            items.append(number)
        self.assertEqual([e.after for e in items.tracking_changes()], [7, 8, 9])
        self.assertEqual([e.sequence for e in items.tracking_changes()], [8, 9, 10])

    def test_no_history_still_tells_observers(self):
        seen = []
        items = TrackedList(history=0, observers=[seen.append])
        items.append(1)
        self.assertEqual(items.tracking_changes(), [])
        self.assertIsNone(items.last_change())
        self.assertEqual(len(seen), 1)

    def test_unbounded_history(self):
        items = TrackedList(history=None)
        items.extend(range(3))
        self.assertIsNone(items.tracker.history.maxlen)
        self.assertIn("history=1,", repr(items.tracker))

    def test_history_must_be_a_count(self):
        for wrong in (-1, 1.5, True, "10"):
            with self.subTest(history=wrong), self.assertRaisesRegex(ValueError, "history is a number of entries"):
                Tracker(history=wrong)

    def test_changes_since_an_entry(self):
        cart = TrackedDict()
        for number in range(5):
            cart[number] = number
        third = cart.tracking_changes()[2]
        self.assertEqual([e.key for e in cart.changes_since(third)], [3, 4])
        self.assertEqual(cart.changes_since(cart.last_change()), [])

    def test_changes_since_a_time_takes_naive_datetimes_as_utc(self):
        cart = TrackedDict()
        cart["old"] = 1
        cart.last_change()._timestamp = 1_000.0
        cart["new"] = 2
        naive = dt.datetime(1970, 1, 1, 0, 16, 41)  # 1001 seconds after the epoch, UTC
        self.assertEqual([e.key for e in cart.changes_since(naive)], ["new"])
        self.assertEqual([e.key for e in cart.changes_since(naive.replace(tzinfo=dt.timezone.utc))], ["new"])
        self.assertEqual([e.key for e in cart.changes_since(999.5)], ["old", "new"])
        self.assertEqual(cart.changes_since(time.time() + 60), [])
        unnumbered = ChangeLogEntry("set", timestamp=1_000.5)
        self.assertEqual([e.key for e in cart.changes_since(unnumbered)], ["new"])

    def test_changes_since_something_else_is_a_type_error(self):
        with self.assertRaisesRegex(TypeError, "changes_since takes a ChangeLogEntry, a datetime or epoch seconds"):
            TrackedDict().changes_since("yesterday")

    def test_clear_history(self):
        cart = TrackedDict()
        cart["a"] = 1
        cart.tracker.clear_history()
        self.assertEqual(cart.tracking_changes(), [])
        cart["b"] = 2
        self.assertEqual(cart.last_change().sequence, 2)  # sequence numbers go on

    def test_snapshots_keep_copies(self):
        plain, copied = TrackedDict(), TrackedDict(snapshots=True)
        for cart in (plain, copied):
            cart["items"] = [1]
            cart["items"].append(2)
        self.assertEqual(plain.tracking_changes()[0].after, [1])  # the list as passed: not the stored one
        self.assertEqual(copied.tracking_changes()[1].after, 2)
        nested = TrackedDict({"items": [1]}, snapshots=True)
        nested["items"] = [{"a": (1, [2])}, {3}]
        entry = nested.last_change()
        self.assertEqual(entry.before, [1])
        self.assertIs(type(entry.before), list)
        self.assertEqual(entry.after, [{"a": (1, [2])}, {3}])

    def test_snapshots_of_objects_and_other_values(self):
        from pdip.tracking import TrackedObject

        class Odd:
            def __init__(self):
                self.items = [1]

        cart = TrackedDict(snapshots=True)
        cart["point"] = TrackedObject(x=1, _hidden=2)
        odd = Odd()
        cart["odd"] = odd
        odd.items.append(2)
        self.assertEqual(cart.tracking_changes()[0].after, {"x": 1})
        self.assertEqual(cart.tracking_changes()[1].after.items, [1])

    def test_capture_stack_names_the_callers_line(self):
        cart = TrackedDict(capture_stack=True)
        cart["a"] = 1
        stack = cart.last_change().extra["stack"]
        self.assertLessEqual(len(stack), 5)
        self.assertIn("test_tracker.py", stack[0])
        self.assertIn("test_capture_stack_names_the_callers_line", stack[0])
        short = TrackedDict(capture_stack=1)
        short["a"] = 1
        self.assertEqual(len(short.last_change().extra["stack"]), 1)
        plain = TrackedDict().tracker.record("set", "k", "k", None, 1)
        self.assertEqual((plain.extra, plain.stored_extra), ({}, None))  # nothing stored or written


class ObserverTest(unittest.TestCase):
    def test_observers_run_by_priority_then_in_the_order_added(self):
        calls = []
        tracker = Tracker()
        tracker.observe(lambda entry: calls.append("low"), priority=-1)
        tracker.observe(lambda entry: calls.append("first default"))
        tracker.observe(lambda entry: calls.append("high"), priority=10)
        tracker.observe(lambda entry: calls.append("second default"))
        cart = TrackedDict(tracker=tracker)
        cart["a"] = 1
        self.assertEqual(calls, ["high", "first default", "second default", "low"])

    def test_an_observer_priority_attribute_is_its_default(self):
        class Urgent:
            priority = 5

            def __init__(self, calls):
                self.calls = calls

            def __call__(self, entry):
                self.calls.append("urgent")

        calls = []
        cart = TrackedDict(observers=[(lambda entry: calls.append("pair"), 7), Urgent(calls), calls.append])
        cart["a"] = 1
        self.assertEqual(calls[:2], ["pair", "urgent"])
        self.assertIsInstance(calls[2], ChangeLogEntry)

    def test_unobserve(self):
        seen = []
        cart = TrackedDict()
        cart.tracker.observe(seen.append)
        cart.tracker.observe(print)
        cart.tracker.unobserve(seen.append)  # an equal bound method, not the same object
        cart.tracker.unobserve(len)  # unknown: ignored
        cart.tracker.unobserve(print)
        cart["a"] = 1
        self.assertEqual(seen, [])
        self.assertEqual(cart.tracker.observers, ())

    def test_an_observer_must_be_callable(self):
        with self.assertRaisesRegex(TypeError, "an observer is a callable taking a ChangeLogEntry; got int"):
            Tracker().observe(42)

    def test_an_observer_that_raises_does_not_undo_or_hide_the_change(self):
        logger = RecordingLogger()
        seen = []

        def broken(entry):
            raise RuntimeError("observer down")

        cart = TrackedDict(name="cart", observers=[(broken, 10), seen.append], logger=logger)
        cart["a"] = 1
        cart["a"] = 2
        self.assertEqual(cart, {"a": 2})
        self.assertEqual(len(cart.tracking_changes()), 2)
        self.assertEqual(len(seen), 2)  # the next observer still ran
        self.assertEqual(cart.tracker.observer_errors, 2)
        name = f"{__name__}.ObserverTest.test_an_observer_that_raises_does_not_undo_or_hide_the_change.<locals>.broken"
        self.assertEqual(cart.tracker.observer_error_counts, {name: 2})
        self.assertEqual(logger.lines[0], f"tracking observer {name} failed on change 1 (set a); the change stands")

    def test_observer_errors_go_to_the_pdip_tracking_logger_by_default(self):
        class Broken:
            def __call__(self, entry):
                raise ValueError("no")

        cart = TrackedDict(observers=[Broken()])
        with self.assertLogs("pdip.tracking", level=logging.ERROR) as logs:
            cart["secret"] = "s3cret"
        self.assertIn("Broken failed on change 1 (set secret)", logs.output[0])
        self.assertNotIn("s3cret", logs.output[0].split("\n")[0])

    def test_a_detached_part_gets_a_tracker_of_the_same_options_without_observers(self):
        seen = []
        shop = TrackedDict(
            {"cart": {}}, name="shop", snapshots=True, capture_stack=2, tenant="t", observers=[seen.append]
        )
        cart = shop.pop("cart")
        cart["a"] = [1]
        tracker = cart.tracker
        self.assertEqual(
            (tracker.entity, tracker.snapshots, tracker.capture_stack, tracker.tenant, tracker.observers),
            ("shop", True, 2, "t", ()),
        )
        self.assertEqual(len(seen), 1)


if __name__ == "__main__":
    unittest.main()
