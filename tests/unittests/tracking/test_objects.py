import abc
import dataclasses
import unittest

from pdip.tracking import TrackedDict, TrackedList, TrackedObject


class Order(TrackedObject, history=3):
    def __init__(self, number: str):
        self.number = number
        self.lines = []
        self._cache = {}


class Line(TrackedObject):
    def __init__(self, sku: str):
        self.sku = sku


@dataclasses.dataclass
class Customer(TrackedObject, name="customers"):
    email: str
    tags: list = dataclasses.field(default_factory=list)


class Shape(abc.ABC):
    @abc.abstractmethod
    def area(self) -> float: ...


class Square(TrackedObject, Shape):
    def __init__(self, side: float):
        self.side = side

    def area(self) -> float:
        return self.side**2


def summary(obj):
    return [(e.action, e.key, e.path, e.before, e.after) for e in obj.tracking_changes()]


class TrackedObjectTest(unittest.TestCase):
    def test_construction_is_not_a_change_and_assignments_after_are(self):
        order = Order("A-1")
        self.assertEqual(order.tracking_changes(), [])
        order.number = "A-2"
        order.status = "paid"
        del order.status
        self.assertEqual(
            summary(order),
            [
                ("set", "number", "number", "A-1", "A-2"),
                ("set", "status", "status", None, "paid"),
                ("delete", "status", "status", "paid", None),
            ],
        )
        self.assertEqual(order.last_change().entity, "Order")

    def test_private_attributes_are_not_recorded(self):
        order = Order("A-1")
        order._cache = {"x": 1}
        del order._cache
        self.assertEqual(order.tracking_changes(), [])

    def test_nested_containers_and_objects(self):
        order = Order("A-1")
        self.assertIsInstance(order.lines, TrackedList)
        order.lines.append(Line("X"))
        order.lines[0].sku = "Y"
        order.lines += [{"sku": "Z"}]
        order.lines[1]["sku"] = "W"
        self.assertEqual(
            [(e.action, e.path) for e in order.tracking_changes()],
            [("set", "lines[0].sku"), ("append", "lines[1:2]"), ("set", "lines[1].sku")],
        )  # history=3 keeps the newest three of four

    def test_class_keywords_set_the_options(self):
        order = Order("A-1")
        self.assertEqual(order.tracker.history.maxlen, 3)
        customer = Customer("a@b.com")
        customer.email = "c@d.com"
        customer.tags.append("vip")
        self.assertEqual(customer.tracker.entity, "customers")
        self.assertEqual([e.path for e in customer.tracking_changes()], ["email", "tags[0]"])
        self.assertEqual(customer, Customer("c@d.com", ["vip"]))

    def test_a_plain_tracked_object_takes_attributes(self):
        point = TrackedObject(x=1, y=2)
        point.x = 5
        self.assertEqual(summary(point), [("set", "x", "x", 1, 5)])
        self.assertEqual(point.tracker.entity, "TrackedObject")

    def test_abstract_base_classes_mix_in(self):
        square = Square(2)
        square.side = 3
        self.assertEqual(square.area(), 9)
        self.assertEqual(len(square.tracking_changes()), 1)

    def test_an_object_stored_in_a_container_records_there(self):
        line = Line("X")
        cart = TrackedDict({"line": line}, name="cart")
        self.assertIs(cart["line"], line)
        line.sku = "Y"
        self.assertEqual(cart.last_change().path, "line.sku")
        self.assertEqual(line.tracking_changes(), cart.tracking_changes())

    def test_an_object_removed_from_its_container_tracks_on_its_own(self):
        cart = TrackedDict({"line": Line("X")})
        line = cart.pop("line")
        line.sku = "Y"
        self.assertEqual(summary(line), [("set", "sku", "sku", "X", "Y")])
        self.assertEqual(len(cart.tracking_changes()), 1)

    def test_changes_of_children_during_construction_are_not_recorded(self):
        class Basket(TrackedObject):
            def __init__(self):
                self.items = []
                self.items.append("first")
                self.owner = Line("x")
                self.owner.sku = "y"

        basket = Basket()
        self.assertEqual(basket.tracking_changes(), [])
        self.assertEqual(basket.owner.sku, "y")

    def test_an_object_stored_in_a_container_while_it_is_built(self):
        registry = TrackedDict()

        class Registered(TrackedObject):
            def __init__(self):
                registry["me"] = self
                self.value = 1

        made = Registered()
        made.value = 2
        self.assertEqual([e.path for e in registry.tracking_changes()], ["me", "me.value"])

    def test_the_tracker_is_not_there_during_construction(self):
        class Early(TrackedObject):
            def __init__(self):
                self.tracker_seen = self.tracker

        with self.assertRaisesRegex(AttributeError, "tracking starts when the object's __init__ has returned"):
            Early()

    def test_replacing_a_nested_container_detaches_it(self):
        order = Order("A-1")
        old = order.lines
        order.lines = ["new"]
        old.append("stale")
        self.assertEqual([e.path for e in order.tracking_changes()], ["lines"])
        self.assertEqual(old.last_change().path, "[0]")

    def test_augmented_assignment_of_a_nested_container_is_one_change(self):
        order = Order("A-1")
        order.lines += ["a"]
        self.assertEqual([e.action for e in order.tracking_changes()], ["append"])


if __name__ == "__main__":
    unittest.main()
