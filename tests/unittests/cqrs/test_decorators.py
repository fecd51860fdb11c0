import datetime as dt
import enum
import unittest
import uuid
from decimal import Decimal

from pdip.cqrs import ValidationError
from pdip.cqrs.decorators import dtoclass, requestclass, responseclass


class Status(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dtoclass
class Money:
    amount: Decimal
    currency: str = "EUR"


@dtoclass
class Line:
    sku: str
    price: Money
    quantity: int = 1


@requestclass
class PlaceOrder:
    id: uuid.UUID
    placed_at: dt.datetime
    deliver_on: dt.date
    status: Status = Status.OPEN
    lines: list[Line]
    note: str | None = None


@responseclass(frozen=True)
class OrderPlaced:
    id: uuid.UUID


@dtoclass
class Base:
    created_by: str = "system"


@dtoclass
class Derived(Base):
    title: str


ORDER = PlaceOrder(
    id=uuid.UUID("00000000-0000-0000-0000-000000000001"),
    placed_at=dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc),
    deliver_on=dt.date(2026, 11, 30),
    lines=[Line(sku="bolt", price=Money(amount=Decimal("0.25")), quantity=4)],
)


class DtoTest(unittest.TestCase):
    def test_to_dict_is_json_ready_and_from_dict_reverses_it(self):
        data = ORDER.to_dict()
        self.assertEqual(
            data,
            {
                "id": "00000000-0000-0000-0000-000000000001",
                "placed_at": "2026-11-22T09:30:00+00:00",
                "deliver_on": "2026-11-30",
                "status": "open",
                "lines": [{"sku": "bolt", "price": {"amount": "0.25", "currency": "EUR"}, "quantity": 4}],
                "note": None,
            },
        )
        self.assertEqual(PlaceOrder.from_dict(data), ORDER)

    def test_fields_are_required_without_defaults_even_after_inherited_defaults(self):
        self.assertEqual(Derived(title="t").created_by, "system")
        with self.assertRaises(TypeError):
            Derived()

    def test_from_dict_lists_every_bad_field_with_its_path_and_expected_type(self):
        data = ORDER.to_dict()
        data["placed_at"] = "soon"
        data["lines"][0]["price"]["amount"] = "free"
        data["lines"][0]["quantity"] = "4"
        data["status"] = "lost"
        del data["deliver_on"]
        data["colour"] = "red"
        with self.assertRaises(ValidationError) as raised:
            PlaceOrder.from_dict(data)
        self.assertEqual(
            raised.exception.errors(),
            [
                {"field": "placed_at", "message": "expected datetime, got 'soon'"},
                {"field": "status", "message": "expected one of 'open', 'closed', got 'lost'"},
                {"field": "lines[0].price.amount", "message": "expected Decimal, got 'free'"},
                {"field": "lines[0].quantity", "message": "expected int, got '4'"},
                {"field": "colour", "message": "unknown field"},
                {"field": "deliver_on", "message": "required (date)"},
            ],
        )
        self.assertTrue(str(raised.exception).startswith("PlaceOrder is invalid: placed_at: expected datetime"))

    def test_lenient_from_dict_converts_query_string_text(self):
        line = Line.from_dict({"sku": "nut", "price": {"amount": "1.5"}, "quantity": "3"}, lenient=True)
        self.assertEqual(line.quantity, 3)

    def test_response_and_request_classes_are_marked_and_can_be_frozen(self):
        placed = OrderPlaced(id=ORDER.id)
        with self.assertRaises(AttributeError):
            placed.id = None
        self.assertEqual(
            (PlaceOrder.__pdip_dto__, OrderPlaced.__pdip_dto__, Money.__pdip_dto__), ("request", "response", "dto")
        )
        self.assertEqual(dtoclass.__name__, "dtoclass")

    def test_a_class_may_keep_its_own_to_dict(self):
        @dtoclass
        class Custom:
            value: int

            def to_dict(self):
                return {"v": self.value}

        self.assertEqual(Custom(value=2).to_dict(), {"v": 2})


if __name__ == "__main__":
    unittest.main()
