import copy
import pickle
import unittest

from pdip.tracking import ChangeLogEntry, TrackedDict, TrackedList, Tracker, tracking_actor


def summary(container):
    """(action, key, path, before, after) of every kept change."""
    return [(e.action, e.key, e.path, e.before, e.after) for e in container.tracking_changes()]


class TrackedDictTest(unittest.TestCase):
    def test_construction_is_not_a_change(self):
        cart = TrackedDict({"a": 1, "nested": {"b": [1, {"c": 2}]}})
        self.assertEqual(cart.tracking_changes(), [])
        self.assertIsNone(cart.last_change())
        self.assertEqual(cart, {"a": 1, "nested": {"b": [1, {"c": 2}]}})
        self.assertIsInstance(cart["nested"], TrackedDict)
        self.assertIsInstance(cart["nested"]["b"], TrackedList)

    def test_pairs_are_items_too(self):
        self.assertEqual(TrackedDict([("a", 1), ("b", 2)]), {"a": 1, "b": 2})

    def test_set_records_before_and_after(self):
        cart = TrackedDict({"a": 1}, name="cart")
        cart["a"] = 2
        cart["b"] = 3
        self.assertEqual(summary(cart), [("set", "a", "a", 1, 2), ("set", "b", "b", None, 3)])
        entry = cart.last_change()
        self.assertIsInstance(entry, ChangeLogEntry)
        self.assertEqual((entry.entity, entry.sequence), ("cart", 2))

    def test_keys_that_are_not_text_are_written_in_brackets(self):
        cart = TrackedDict()
        cart[3] = "x"
        cart[(1, 2)] = "y"
        self.assertEqual([e.path for e in cart.tracking_changes()], ["[3]", "[(1, 2)]"])

    def test_delete_pop_popitem(self):
        cart = TrackedDict({"a": 1, "b": 2, "c": 3})
        del cart["a"]
        self.assertEqual(cart.pop("b"), 2)
        self.assertEqual(cart.pop("missing", "default"), "default")
        self.assertEqual(cart.popitem(), ("c", 3))
        self.assertEqual(summary(cart), [("delete", k, k, v, None) for k, v in (("a", 1), ("b", 2), ("c", 3))])

    def test_failed_operations_record_nothing(self):
        cart = TrackedDict()
        with self.assertRaises(KeyError):
            del cart["x"]
        with self.assertRaises(KeyError):
            cart.pop("x")
        with self.assertRaises(KeyError):
            cart.popitem()
        self.assertEqual(cart.tracking_changes(), [])

    def test_setdefault_update_and_or_assign(self):
        cart = TrackedDict({"a": 1})
        self.assertEqual(cart.setdefault("a", 5), 1)
        self.assertIsInstance(cart.setdefault("b", {"x": 1}), TrackedDict)
        cart.update({"c": 3}, d=4)
        cart.update([("e", 5)])
        cart |= {"f": 6}

        class KeysOnly:
            def keys(self):
                return ["g"]

            def __getitem__(self, key):
                return 7

        cart.update(KeysOnly())
        self.assertEqual([e.key for e in cart.tracking_changes()], ["b", "c", "d", "e", "f", "g"])
        self.assertEqual(cart["g"], 7)

    def test_clear_records_the_whole_content_once(self):
        cart = TrackedDict({"a": 1, "b": {"c": 2}})
        cart.clear()
        cart.clear()  # already empty: no change
        self.assertEqual(summary(cart), [("clear", None, None, {"a": 1, "b": {"c": 2}}, None)])

    def test_nested_change_is_recorded_once_at_the_root_with_its_full_path(self):
        seen = []
        shop = TrackedDict({"orders": [{"status": "new"} for _ in range(5)]}, observers=[seen.append])
        shop["orders"][3]["status"] = "paid"
        self.assertEqual(summary(shop), [("set", "status", "orders[3].status", "new", "paid")])
        self.assertEqual(len(seen), 1)
        self.assertIs(shop["orders"].tracker, shop.tracker)
        self.assertEqual(shop["orders"].tracking_changes(), shop.tracking_changes())

    def test_nested_paths_follow_inserts_and_deletes(self):
        shop = TrackedDict({"orders": [{"n": 0}, {"n": 1}, {"n": 2}, "not a container"]})
        orders = shop["orders"]
        second = orders[1]
        orders.insert(0, {"n": -1})
        second["n"] = 10
        del orders[0]
        del orders[0]
        second["n"] = 11
        paths = [e.path for e in shop.tracking_changes()]
        self.assertEqual(paths, ["orders[0]", "orders[2].n", "orders[0]", "orders[0]", "orders[0].n"])

    def test_stored_dicts_are_tracked_copies(self):
        shop = TrackedDict()
        plain = {"a": 1}
        shop["x"] = plain
        plain["a"] = 2  # the plain dict is not the stored one
        shop["x"]["a"] = 3
        self.assertEqual(shop["x"], {"a": 3})
        self.assertEqual(summary(shop)[-1], ("set", "a", "x.a", 1, 3))
        other = TrackedDict()
        other["copy"] = shop["x"]  # a tracked container from elsewhere is copied too
        other["copy"]["a"] = 4
        self.assertEqual(shop["x"]["a"], 3)
        self.assertEqual(other.last_change().path, "copy.a")

    def test_in_place_operators_on_nested_containers_are_one_change(self):
        shop = TrackedDict({"tags": ["a"], "counts": {"x": 1}})
        shop["tags"] += ["b", "c"]
        shop["counts"] |= {"y": 2}
        self.assertEqual(
            summary(shop),
            [("append", "1:3", "tags[1:3]", None, ["b", "c"]), ("set", "y", "counts.y", None, 2)],
        )

    def test_replaced_containers_are_detached_and_track_on_their_own(self):
        shop = TrackedDict({"cart": {"items": 1}}, name="shop", history=7)
        old = shop["cart"]
        shop["cart"] = {"items": 0}
        old["items"] = 99  # a stale reference: not a change of shop
        self.assertEqual([e.path for e in shop.tracking_changes()], ["cart"])
        self.assertIsNot(old.tracker, shop.tracker)
        self.assertEqual(old.tracker.history.maxlen, 7)
        self.assertEqual(summary(old), [("set", "items", "items", 1, 99)])

    def test_children_of_a_detached_container_follow_it(self):
        shop = TrackedDict({"cart": {"lines": [{"sku": "a"}]}})
        cart = shop.pop("cart")
        cart["lines"][0]["sku"] = "b"
        self.assertEqual(summary(cart), [("set", "sku", "lines[0].sku", "a", "b")])
        self.assertEqual(len(shop.tracking_changes()), 1)

    def test_fromkeys_and_copies_are_not_changes(self):
        made = TrackedDict.fromkeys(["a", "b"], 0)
        self.assertIsInstance(made, TrackedDict)
        self.assertEqual(made.tracking_changes(), [])
        shop = TrackedDict({"a": {"b": [1]}}, name="shop", history=5)
        shop["c"] = 1
        for clone in (copy.copy(shop), copy.deepcopy(shop), pickle.loads(pickle.dumps(shop))):
            with self.subTest(clone=type(clone)):
                self.assertEqual(clone, shop)
                self.assertIsInstance(clone["a"]["b"], TrackedList)
                self.assertEqual(clone.tracking_changes(), [])
                self.assertEqual((clone.tracker.entity, clone.tracker.history.maxlen), ("shop", 5))

    def test_actor_and_tenant_are_stamped(self):
        cart = TrackedDict(tenant="t1")
        with tracking_actor("ada"):
            cart["a"] = 1
        cart["b"] = 2
        self.assertEqual([(e.actor, e.tenant) for e in cart.tracking_changes()], [("ada", "t1"), (None, "t1")])

    def test_entries_are_complete_change_log_entries(self):
        cart = TrackedDict(name="cart")
        cart["a"] = 1
        made = cart.last_change()
        for slot in ChangeLogEntry.__slots__:
            getattr(made, slot)  # every slot is set
        expected = ChangeLogEntry(
            "set",
            entity="cart",
            key="a",
            path="a",
            after=1,
            sequence=1,
            id=made.id,
            timestamp=made.epoch,
            extra={"added": True},
        )
        self.assertEqual(made, expected)
        self.assertEqual(ChangeLogEntry.from_json(made.to_json()), made)

    def test_a_shared_tracker_collects_changes_of_several_containers(self):
        tracker = Tracker("session")
        a, b = TrackedDict(tracker=tracker), TrackedList(tracker=tracker)
        a["x"] = 1
        b.append(2)
        self.assertEqual([e.action for e in tracker.changes()], ["set", "append"])


class TrackedListTest(unittest.TestCase):
    def test_construction_is_not_a_change(self):
        items = TrackedList([1, [2], {"a": 3}])
        self.assertEqual(items.tracking_changes(), [])
        self.assertEqual(items, [1, [2], {"a": 3}])

    def test_append_insert_remove(self):
        items = TrackedList([1, 2])
        items.append(3)
        items.insert(0, 0)
        items.insert(-1, 2.5)
        items.insert(100, 9)
        items.insert(-100, -1)
        items.remove(2.5)
        self.assertEqual(items, [-1, 0, 1, 2, 3, 9])
        self.assertEqual(
            summary(items),
            [
                ("append", 2, "[2]", None, 3),
                ("insert", 0, "[0]", None, 0),
                ("insert", 3, "[3]", None, 2.5),
                ("insert", 5, "[5]", None, 9),
                ("insert", 0, "[0]", None, -1),
                ("remove", 4, "[4]", 2.5, None),
            ],
        )

    def test_set_delete_and_pop_by_position(self):
        items = TrackedList(["a", "b", "c", "d"])
        items[-1] = "D"
        del items[0]
        self.assertEqual(items.pop(), "D")
        self.assertEqual(items.pop(0), "b")
        self.assertEqual(
            summary(items),
            [
                ("set", 3, "[3]", "d", "D"),
                ("delete", 0, "[0]", "a", None),
                ("delete", 2, "[2]", "D", None),
                ("delete", 0, "[0]", "b", None),
            ],
        )

    def test_failed_operations_record_nothing(self):
        items = TrackedList([1])
        for attempt in (lambda: items.__setitem__(5, 0), lambda: items.__delitem__(-5), lambda: items.pop(3)):
            with self.assertRaises(IndexError):
                attempt()
        with self.assertRaises(ValueError):
            items.remove(42)
        with self.assertRaises(TypeError):
            items["a"] = 1
        with self.assertRaises(ValueError):
            items[::2] = [1, 2, 3]
        items.clear()
        with self.assertRaises(IndexError):
            items.pop()
        self.assertEqual([e.action for e in items.tracking_changes()], ["clear"])

    def test_slices(self):
        items = TrackedList([0, 1, 2, 3, 4, 5])
        items[1:3] = ["a", "b", "c"]
        del items[4:]
        del items[10:]  # nothing there: no change
        items[::2] = ["x", "y"]
        self.assertEqual(items, ["x", "a", "y", "c"])
        self.assertEqual(
            summary(items),
            [
                ("set", "1:3", "[1:3]", [1, 2], ["a", "b", "c"]),
                ("delete", "4:7", "[4:7]", [3, 4, 5], None),
                ("set", "0:4:2", "[0:4:2]", [0, "b"], ["x", "y"]),
            ],
        )

    def test_extend_and_in_place_operators(self):
        items = TrackedList([1])
        items.extend([2, 3])
        items.extend([])  # nothing added: no change
        items += [4]
        items *= 2
        self.assertEqual(items, [1, 2, 3, 4, 1, 2, 3, 4])
        items *= 0
        self.assertEqual(items, [])
        self.assertEqual(
            [(e.action, e.path) for e in items.tracking_changes()],
            [("append", "[1:3]"), ("append", "[3:4]"), ("append", "[4:8]"), ("clear", None)],
        )

    def test_sort_and_reverse_are_one_set_of_the_whole_list(self):
        items = TrackedList([3, 1, 2])
        items.sort()
        items.sort()  # already sorted: no change
        items.reverse()
        items.sort(key=lambda value: value, reverse=True)  # same order: no change
        self.assertEqual(
            summary(items),
            [("set", "0:3", "[0:3]", [3, 1, 2], [1, 2, 3]), ("set", "0:3", "[0:3]", [1, 2, 3], [3, 2, 1])],
        )

    def test_nested_lists_in_lists(self):
        grid = TrackedList([[0, 0], [0, 0]], name="grid")
        grid[1][0] = 5
        grid[0] += [1]
        self.assertEqual([e.path for e in grid.tracking_changes()], ["[1][0]", "[0][2:3]"])

    def test_clear_of_a_nested_list_names_it(self):
        shop = TrackedDict({"lines": [1, 2]})
        shop["lines"].clear()
        self.assertEqual(summary(shop), [("clear", "lines", "lines", [1, 2], None)])

    def test_replacing_an_item_with_itself_after_an_in_place_change_is_one_change(self):
        grid = TrackedList([[1]])
        grid[0] += [2]
        self.assertEqual(len(grid.tracking_changes()), 1)

    def test_replacing_a_nested_item_detaches_the_old_one(self):
        items = TrackedList([1, {"a": 1}, [2]])
        old = items[1]
        items[1] = {"b": 2}
        items[2] = 3
        old["a"] = 5
        items[1]["b"] = 3
        items.clear()
        TrackedList().clear()
        self.assertEqual([e.path for e in items.tracking_changes()], ["[1]", "[2]", "[1].b", None])
        self.assertEqual(old.last_change().path, "a")

    def test_a_tracked_list_stored_elsewhere_is_copied(self):
        items = TrackedList([1])
        shop = TrackedDict()
        shop["items"] = items
        shop["items"].append(2)
        self.assertEqual(items, [1])
        self.assertEqual(shop.last_change().path, "items[1]")

    def test_copies(self):
        items = TrackedList([{"a": 1}], name="items")
        clone = copy.deepcopy(items)
        self.assertEqual(clone, items)
        self.assertEqual(clone.tracker.entity, "items")


if __name__ == "__main__":
    unittest.main()
