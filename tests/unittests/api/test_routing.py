"""The naming rule and where each argument of an action comes from (no Flask involved)."""

import dataclasses
import unittest
from typing import Annotated

from pdip.api import ControllerBase, FromBody, FromQuery, FromRoute, RoutingError
from pdip.api.routing import (
    BODY,
    QUERY,
    QUERY_OBJECT,
    ROUTE,
    actions_of,
    controller_name,
    controller_path,
    namespace_of,
)


@dataclasses.dataclass
class Filter:
    name: str | None = None


@dataclasses.dataclass
class Order:
    sku: str


class UserAccountsController(ControllerBase):
    def get(self, id: int | None = None, page: int = 1):
        return id

    def post(self, order: Order):
        return order

    def delete(self, id: int):
        return id


class Search(ControllerBase):  # no "Controller" suffix: the name is kept whole
    def get(self, query: Filter):
        return query


class ExplicitController(ControllerBase):
    route = "/shops/<int:shop>/orders"

    def get(self, shop: int, line: Annotated[int, FromRoute], verbose: Annotated[bool, FromQuery] = False):
        return shop

    def put(self, shop: int, order: Annotated[Filter, FromQuery], raw: Annotated[dict, FromBody]):
        return shop

    def patch(self, shop: int, body):
        return body


def by_method(cls, **options):
    return {(action.method, action.url): action for action in actions_of(cls, **options)}


class NamingTest(unittest.TestCase):
    def test_the_class_name_minus_controller_case_kept(self):
        self.assertEqual(controller_name(UserAccountsController), "UserAccounts")
        self.assertEqual(controller_path(UserAccountsController), "/api/UserAccounts")
        self.assertEqual(controller_name(Search), "Search")

    def test_a_class_named_controller_keeps_its_name(self):
        Controller = type("Controller", (ControllerBase,), {})
        self.assertEqual(controller_name(Controller), "Controller")

    def test_the_base_url_is_configurable(self):
        self.assertEqual(controller_path(UserAccountsController, "/v2/"), "/v2/UserAccounts")
        self.assertEqual(controller_path(UserAccountsController, "/"), "/UserAccounts")

    def test_the_namespace_is_the_package_skipping_api_and_controllers(self):
        def controller_in(module):
            return type("OrdersController", (ControllerBase,), {"__module__": module})

        self.assertEqual(namespace_of(controller_in("shop.sales.api.orders_controller")), "sales")
        self.assertEqual(namespace_of(controller_in("shop.sales.controllers.orders_controller")), "sales")
        self.assertEqual(namespace_of(controller_in("app.api.orders_controller")), "app")
        self.assertIsNone(namespace_of(controller_in("orders_controller")))
        self.assertIsNone(namespace_of(controller_in("api.orders_controller")))
        cls = controller_in("shop.sales.orders_controller")
        self.assertEqual(controller_path(cls, namespaces=True), "/api/sales/Orders")
        self.assertEqual(controller_path(cls, namespaces=False), "/api/Orders")

    def test_an_explicit_route_replaces_the_derived_path(self):
        self.assertEqual(controller_path(ExplicitController), "/api/shops/<int:shop>/orders")


class ArgumentsTest(unittest.TestCase):
    def test_id_goes_in_the_url_and_a_default_id_serves_the_collection_too(self):
        actions = by_method(UserAccountsController)
        self.assertEqual(
            sorted(actions),
            [
                ("delete", "/api/UserAccounts/<id>"),
                ("get", "/api/UserAccounts"),
                ("get", "/api/UserAccounts/<id>"),
                ("post", "/api/UserAccounts"),
            ],
        )
        get = actions[("get", "/api/UserAccounts/<id>")]
        self.assertEqual(
            [(a.name, a.source, a.required) for a in get.arguments], [("id", ROUTE, False), ("page", QUERY, False)]
        )
        self.assertEqual(actions[("post", "/api/UserAccounts")].body.name, "order")

    def test_a_dto_of_get_comes_from_the_query_string(self):
        (action,) = actions_of(Search)
        self.assertEqual(action.arguments[0].source, QUERY_OBJECT)
        self.assertIsNone(action.body)

    def test_annotations_and_placeholders_choose_the_source(self):
        actions = by_method(ExplicitController)
        get = actions[("get", "/api/shops/<int:shop>/orders/<line>")]
        self.assertEqual(
            [(a.name, a.source) for a in get.arguments], [("shop", ROUTE), ("line", ROUTE), ("verbose", QUERY)]
        )
        put = actions[("put", "/api/shops/<int:shop>/orders")]
        self.assertEqual(
            [(a.name, a.source) for a in put.arguments], [("shop", ROUTE), ("order", QUERY_OBJECT), ("raw", BODY)]
        )
        patch = actions[("patch", "/api/shops/<int:shop>/orders")]
        self.assertEqual(patch.body.name, "body")
        self.assertEqual(patch.label, f"{__name__}.ExplicitController.patch")

    def test_two_bodies_are_refused_naming_the_method(self):
        class TwoBodies(ControllerBase):
            def post(self, first: Order, second: Order):
                return first

        with self.assertRaises(RoutingError) as raised:
            actions_of(TwoBodies)
        self.assertIn("TwoBodies.post: one parameter can take the body, not 2 (first, second)", str(raised.exception))

    def test_star_arguments_are_refused(self):
        class Starred(ControllerBase):
            def get(self, *args, **kwargs):
                return args

        with self.assertRaises(RoutingError) as raised:
            actions_of(Starred)
        self.assertIn("*args cannot be served", str(raised.exception))

    def test_unreadable_hints_and_non_methods_are_refused(self):
        class BadHint(ControllerBase):
            def get(self, x: "NoSuchType"):  # noqa: F821 - the unresolvable hint is the point
                return x

        class NotMethod(ControllerBase):
            get = "text"

        with self.assertRaises(RoutingError) as raised:
            actions_of(BadHint)
        self.assertIn("BadHint.get: cannot read the method's signature", str(raised.exception))
        with self.assertRaises(RoutingError):
            actions_of(NotMethod)
        with self.assertRaises(RoutingError):
            actions_of(Filter)


if __name__ == "__main__":
    unittest.main()
