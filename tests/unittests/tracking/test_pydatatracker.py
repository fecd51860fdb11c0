"""pydatatracker's README and test suite, run against pdip.tracking with `from pydatatracker
import` read as `from pdip.tracking import`: each snippet as the seed wrote it, then what pdip
says where pydatatracker's behaviour was a bug."""

import copy
import pickle
import unittest
from collections import OrderedDict, defaultdict

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from pdip.tracking import (
    ChangeCollector,
    ChangeLogEntry,
    TrackedDefaultDict,
    TrackedDict,
    TrackedList,
    TrackedOrderedDict,
    telemetry_observer,
    tracking_actor,
)


class ReadmeTest(unittest.TestCase):
    def test_tracking_actors(self):
        tracked = TrackedDict()
        with tracking_actor("provisioner"):
            tracked["status"] = "ready"

        self.assertEqual(tracked.tracking_changes()[0].actor, "provisioner")

    def test_inspecting_change_history(self):
        tracked = TrackedDict()
        first_change = tracked.last_change()  # None: building a container is not a change
        tracked["mode"] = "debug"
        tracked["level"] = 3

        changes = tracked.changes_since(first_change)
        self.assertEqual([entry.extra["location"] for entry in changes], ["mode", "level"])
        self.assertEqual([entry.extra["location"] for entry in tracked.changes_since(changes[0])], ["level"])

    def test_observers(self):
        tracked = TrackedDict()
        collector = ChangeCollector()
        tracked.tracking_add_observer(collector)
        tracked["mode"] = "debug"

        self.assertEqual(collector.as_list()[-1].extra["location"], "mode")
        self.assertIs(collector.last(), collector.as_list()[-1])


class DummyCounter:
    """pydatatracker's own test double of a Prometheus counter (tests/test_observers.py)."""

    def __init__(self):
        self.counts = {}

    def labels(self, **labels):
        key = tuple(sorted(labels.items()))
        if key not in self.counts:
            self.counts[key] = 0

        class Inc:
            def __init__(self, parent, key):
                self.parent = parent
                self.key = key

            def inc(self):
                self.parent.counts[self.key] += 1

        return Inc(self, key)


class TelemetryTest(unittest.TestCase):
    def test_telemetry_observer_counts(self):  # the seed's test, as written
        tracked = TrackedDict()
        counter = DummyCounter()
        tracked.tracking_add_observer(telemetry_observer(counter))
        tracked["foo"] = "bar"
        assert counter.counts

    def test_changes_are_counted_by_action_on_a_prometheus_counter(self):
        registry = CollectorRegistry()
        counter = Counter("shop_changes", "changes", ["action"], registry=registry)
        observer = telemetry_observer(counter, priority=4)
        tracked = TrackedDict(observers=[observer])
        tracked["a"] = 1
        tracked["a"] = 2
        del tracked["a"]
        self.assertEqual(registry.get_sample_value("shop_changes_total", {"action": "set"}), 2.0)
        self.assertEqual(registry.get_sample_value("shop_changes_total", {"action": "delete"}), 1.0)
        self.assertEqual((observer.priority, repr(observer).startswith("TelemetryObserver(")), (4, True))

    def test_without_a_counter_one_default_counter_is_shared(self):
        first, second = telemetry_observer(), telemetry_observer()
        self.assertIs(first.counter, second.counter)
        before = REGISTRY.get_sample_value("pdip_tracking_changes_total", {"action": "clear"}) or 0.0
        TrackedList([1], observers=[first]).clear()
        self.assertEqual(REGISTRY.get_sample_value("pdip_tracking_changes_total", {"action": "clear"}), before + 1)

    def test_a_counter_needs_labels(self):
        with self.assertRaisesRegex(TypeError, r"counter: expected a Prometheus-style counter .* got int"):
            telemetry_observer(3)


class ObserverMethodsTest(unittest.TestCase):
    def test_an_observer_added_twice_runs_once_and_can_be_removed(self):
        tracked = TrackedDict({"orders": {}})
        collector = ChangeCollector()
        tracked["orders"].tracking_add_observer(collector)  # a nested part adds to the root's tracker
        tracked.tracking_add_observer(collector, priority=5)
        tracked["orders"]["a"] = 1
        self.assertEqual([entry.path for entry in collector.as_list()], ["orders.a"])
        tracked.tracking_remove_observer(collector)
        tracked.tracking_remove_observer(collector)  # not registered any more: ignored
        tracked["b"] = 2
        self.assertEqual(len(collector), 1)

    def test_tracking_changes_can_be_limited(self):
        tracked = TrackedDict()
        tracked["a"] = 1
        tracked["b"] = 2

        history = tracked.tracking_changes(most_recent=1)

        self.assertEqual([entry.extra["location"] for entry in history], ["b"])
        self.assertEqual(tracked.tracking_changes(most_recent=0), [])
        self.assertEqual(len(tracked.tracking_changes(most_recent=5)), 2)
        with self.assertRaisesRegex(TypeError, "most_recent is a number of entries or None; got '1'"):
            tracked.tracking_changes(most_recent="1")


class ExtraTest(unittest.TestCase):
    def test_location_action_and_value_are_worked_out_from_the_entry(self):
        tracked = TrackedDict()
        tracked["status"] = "pending"
        tracked["status"] = "complete"
        tracked["count"] = 3

        update, count = tracked.tracking_changes()[1:]
        self.assertEqual((update.extra["action"], update.extra["location"]), ("set", "status"))
        self.assertIn("complete", update.extra["value"])
        self.assertEqual((count.extra["value"], count.extra.get("value"), count.after), ("3", "3", 3))
        self.assertIn("location", count.extra)
        with self.assertRaises(KeyError):
            count.extra["data_pre_change"]
        self.assertIsNone(count.extra.get("data_pre_change"))

    def test_derived_keys_are_not_listed_stored_or_written(self):
        tracked = TrackedDict(capture_stack=1)
        tracked["a"] = 1
        entry = tracked.last_change()
        self.assertEqual(sorted(entry.extra), ["added", "stack"])
        self.assertEqual(len(entry.extra), 2)
        self.assertEqual(sorted(entry.to_dict()["extra"]), ["added", "stack"])
        self.assertEqual(repr(TrackedDict().tracker.record("set", "k", "k", 0, 1).extra), "{}")

    def test_a_stored_field_wins_over_a_derived_one(self):
        entry = ChangeLogEntry("insert", path="accounts", extra={"location": "eu-west"})
        self.assertEqual(entry.extra["location"], "eu-west")
        self.assertEqual(entry.extra["action"], "insert")
        self.assertIsNone(ChangeLogEntry("insert").extra)  # made elsewhere, saying nothing more

    def test_extra_can_be_replaced_whole(self):
        entry = ChangeLogEntry("insert", extra={"a": 1})
        entry.extra = {"b": 2}
        self.assertEqual(entry.stored_extra, {"b": 2})
        entry.extra = None
        self.assertIsNone(entry.extra)

    def test_entries_of_containers_keep_their_extra_through_pickle_and_replace(self):
        tracked = TrackedDict({"a": 0})
        tracked["a"] = 1
        entry = tracked.last_change()
        for other in (pickle.loads(pickle.dumps(entry)), entry.replace(actor="ada")):
            self.assertEqual(other.extra["location"], "a")
            self.assertIsNone(other.stored_extra)
        self.assertIsNone(entry.replace(extra=None).extra)
        self.assertEqual(repr(pickle.loads(pickle.dumps(entry))._extra), "NO_EXTRA")


class AddedKeyTest(unittest.TestCase):
    def test_a_new_key_reads_apart_from_a_key_whose_value_was_none(self):
        tracked = TrackedDict({"nested": {}})
        tracked["k"] = None
        tracked["k"] = 1
        tracked["nested"]["n"] = 1
        tracked.setdefault("d", 2)
        tracked.update(e=3)
        added = [(entry.path, entry.extra.get("added", False)) for entry in tracked.tracking_changes()]
        self.assertEqual(added, [("k", True), ("k", False), ("nested.n", True), ("d", True), ("e", True)])
        self.assertEqual(tracked.tracking_changes()[1].before, None)

    def test_added_is_kept_next_to_the_stack(self):
        tracked = TrackedDict(capture_stack=1)
        tracked["k"] = 1
        tracked["k"] = 2
        first, second = tracked.tracking_changes()
        self.assertEqual((first.extra["added"], len(first.extra["stack"])), (True, 1))
        self.assertNotIn("added", second.extra)


class DictKindsTest(unittest.TestCase):
    def test_a_defaultdict_stored_in_a_container_is_tracked_and_keeps_its_default(self):
        tracked = TrackedDict()
        tracked["counts"] = defaultdict(int, {"a": 1})
        tracked["groups"] = defaultdict(list)
        tracked["counts"]["x"] += 1
        tracked["groups"]["g"].append("v")
        self.assertIsInstance(tracked["counts"], TrackedDefaultDict)
        self.assertEqual(tracked["counts"], {"a": 1, "x": 1})
        self.assertEqual(
            [(e.action, e.path, e.after) for e in tracked.tracking_changes()[2:]],
            [("set", "counts.x", 0), ("set", "counts.x", 1), ("set", "groups.g", []), ("append", "groups.g[0]", "v")],
        )
        self.assertEqual(repr(tracked["counts"]), "TrackedDefaultDict(<class 'int'>, {'a': 1, 'x': 1})")

    def test_a_tracked_defaultdict_without_a_factory_raises_like_a_dict(self):
        plain = TrackedDefaultDict()
        with self.assertRaises(KeyError):
            plain["missing"]
        with self.assertRaisesRegex(TypeError, "default_factory must be callable or None; got int"):
            TrackedDefaultDict(3)

    def test_a_tracked_defaultdict_copies_and_moves_with_its_default(self):
        counts = TrackedDefaultDict(int, {"a": 1}, name="counts")
        for clone in (pickle.loads(pickle.dumps(counts)), copy.deepcopy(counts)):
            self.assertEqual((clone.default_factory, clone, clone.tracker.entity), (int, {"a": 1}, "counts"))
        holder = TrackedDict()
        holder["c"] = counts
        holder["c"]["b"] += 2
        self.assertEqual((holder["c"]["b"], holder.last_change().path), (2, "c.b"))

    def test_an_ordered_dict_stored_in_a_container_is_tracked_and_keeps_its_order_methods(self):
        tracked = TrackedDict()
        tracked["steps"] = OrderedDict([("a", 1), ("b", 2), ("c", 3)])
        steps = tracked["steps"]
        self.assertIsInstance(steps, TrackedOrderedDict)
        steps["d"] = 4
        steps.move_to_end("a")
        steps.move_to_end("a")  # already last: nothing changed
        steps.move_to_end("d", last=False)
        self.assertEqual(list(steps), ["d", "b", "c", "a"])
        self.assertEqual(steps.popitem(last=False), ("d", 4))
        self.assertEqual(steps.popitem(), ("a", 1))
        self.assertEqual(
            [(e.action, e.path, e.before, e.after) for e in tracked.tracking_changes()[1:]],
            [
                ("set", "steps.d", None, 4),
                ("set", "steps", ["a", "b", "c", "d"], ["b", "c", "d", "a"]),
                ("set", "steps", ["b", "c", "d", "a"], ["d", "b", "c", "a"]),
                ("delete", "steps.d", 4, None),
                ("delete", "steps.a", 1, None),
            ],
        )
        with self.assertRaises(KeyError):
            steps.move_to_end("missing")

    def test_ordered_dicts_compare_in_order_and_dicts_do_not(self):
        steps = TrackedOrderedDict({"a": 1, "b": 2})
        self.assertEqual(steps, OrderedDict([("a", 1), ("b", 2)]))
        self.assertNotEqual(steps, OrderedDict([("b", 2), ("a", 1)]))
        self.assertNotEqual(steps, TrackedOrderedDict({"b": 2, "a": 1}))
        self.assertEqual(steps, {"b": 2, "a": 1})
        self.assertEqual(pickle.loads(pickle.dumps(steps)), steps)


class ListSliceTest(unittest.TestCase):
    def test_replacing_an_empty_slice_with_nothing_is_not_a_change(self):
        items = TrackedList([1, 2, 3])
        items[0:0] = []
        items[5:0:2] = []
        with self.assertRaises(ValueError):  # an extended slice of no position cannot take one item
            items[0:3:-1] = ["x"]
        self.assertEqual((items.tracking_changes(), items), ([], [1, 2, 3]))

    def test_a_reversed_slice_is_written_from_the_lowest_position_up(self):
        items = TrackedList([1, 2, 3])
        del items[::-1]
        other = TrackedList([1, 2, 3, 4, 5])
        other[::-2] = ["a", "b", "c"]
        del other[3:0:-2]
        self.assertEqual([(e.path, e.before) for e in items.tracking_changes()], [("[0:3]", [1, 2, 3])])
        self.assertEqual(
            [(e.path, e.before, e.after) for e in other.tracking_changes()],
            [("[0:5:2]", [1, 3, 5], ["c", "b", "a"]), ("[1:4:2]", [2, 4], None)],
        )
        self.assertEqual(other, ["c", "b", "a"])


if __name__ == "__main__":
    unittest.main()
