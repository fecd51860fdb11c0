"""A REST connection's settings, pages and waits, without a server (`pdip.integrator.adapters.rest`)."""

import email.utils
import time
import unittest

from pdip.configuration.settings import problems
from pdip.integrator import Connection, Integration, Operation, OperationError
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.adapters.rest.client import Pace, backoff, retry_after
from pdip.integrator.adapters.rest.pages import DONE, MISSING, PageRequest, Paging, at_path
from pdip.integrator.adapters.rest.settings import SETTINGS, Pagination, rest_settings
from pdip.integrator.checks import operation_problems

URL = "http://127.0.0.1:9/items"


def settings_of(**given):
    return rest_settings(Connection("rest", {"url": URL, **given}, name="shop"))


def refused(**given) -> str:
    with unittest.TestCase().assertRaises(OperationError) as raised:
        settings_of(**given)
    return str(raised.exception)


class RestSettingsTest(unittest.TestCase):
    def test_every_style_of_auth_and_paging_converts_from_what_yaml_gives(self):
        made = settings_of(
            auth={"api_key": {"header": "X-Api-Key", "value": "k"}},
            paginate={"page": {"size_param": "size", "size": "50"}},
            incremental={"param": "since", "start": 0},
            retries="2",
            rate="10",
            method="get",
        )
        self.assertEqual((made.auth.api_key.header, made.pagination.page.size, made.retries), ("X-Api-Key", 50, 2))
        self.assertEqual((made.incremental.param, made.rate), ("since", 10.0))
        self.assertEqual(settings_of(paginate="link").pagination, Pagination(link=True))
        self.assertEqual(settings_of(paginate="offset").pagination.offset.limit, 100)
        self.assertIsNone(settings_of().pagination)
        self.assertEqual(settings_of(auth={"basic": {"user": "u", "password": "p"}}).secrets(), ["p"])
        oauth = {"token_url": "http://x/token", "client_id": "c", "client_secret": "s"}
        self.assertEqual(settings_of(auth={"oauth2": oauth}, headers={"X-Key": "h"}).secrets(), ["s", "h"])

    def test_a_wrong_nested_key_is_named_with_its_path_and_a_secret_is_never_shown(self):
        self.assertIn(
            "rest connection 'shop': paginate.page.size: expected int | None, got 'many'",
            refused(paginate={"page": {"size": "many"}}),
        )
        self.assertIn("paginate.pgae: unknown field", refused(paginate={"pgae": {}}))
        self.assertIn("expected exactly one of next, link, page, offset, cursor, got none", refused(paginate={}))
        message = refused(auth={"bearer": "tok-123", "basic": {"user": "u", "password": "pw-456"}})
        self.assertIn("auth: expected exactly one of bearer, api_key, basic, oauth2, got bearer, basic", message)
        message = refused(auth={"basic": {"user": "u", "password": ["pw-456"]}})
        self.assertIn("auth.basic.password: expected str, got ***", message)
        self.assertNotIn("pw-456", message)
        self.assertIn(
            "auth.api_key: expected exactly one of header, query, got none", refused(auth={"api_key": {"value": "k"}})
        )
        self.assertIn("did you mean url?", refused(ulr="x"))

    def test_values_outside_their_range_are_refused_each_by_name(self):
        message = refused(url=" ", method="DELETE", send="each", types={"id": "number"}, retries=-1, timeout=0, rate=-2)
        for expected in (
            "url: expected an http:// or https:// URL, got nothing",
            "method: expected one of GET, POST, PUT, PATCH, got 'DELETE'",
            "send: expected one of batch, row, got 'each'",
            "types.id: expected one of int, integer",
            "retries: expected 0 or more, got -1",
            "timeout: expected a positive number, got 0.0",
            "rate: expected a positive number, got -2.0",
        ):
            self.assertIn(expected, message)

    def test_validate_names_the_key_inside_a_nested_setting(self):
        source = Connection("rest", {"url": URL, "paginate": {"cursor": {"param": "after"}}, "auth": {"bearer": 5}})
        found = [str(problem) for problem in problems(source.settings, SETTINGS, "rest")]
        self.assertIn("paginate.cursor.path: required (str)", found)
        self.assertEqual(len(found), 1)  # a bearer of 5 is text once converted leniently
        found = [
            str(problem) for problem in problems({"url": URL, "auth": {"basic": {"user": ["a"]}}}, SETTINGS, "rest")
        ]
        self.assertEqual(found, ["auth.basic.user: expected str, got ***"])
        found = [str(problem) for problem in problems({"url": URL, "paginate": "pages"}, SETTINGS, "rest")]
        self.assertEqual(found, ["paginate: expected one of 'link', 'page', 'offset' or Pagination, got 'pages'"])

    def test_the_kind_is_registered_with_its_declared_settings(self):
        registry = AdapterRegistry()
        adapter = registry.adapter("rest")
        self.assertEqual(adapter.settings, SETTINGS)
        self.assertEqual({setting.name for setting in SETTINGS if setting.secret}, {"auth", "headers"})
        wrong = Integration(
            "a", source=Connection("rest", {"url": URL, "retries": "x"}), target=Connection("memory", {"store": "x"})
        )
        self.assertEqual(
            operation_problems(Operation("o", [wrong]), registry),
            ["integration 'a': source.retries: expected int, got 'x'"],
        )


class PagesTest(unittest.TestCase):
    def test_a_dotted_path_walks_objects_and_lists(self):
        document = {"data": {"rows": [{"id": 1}, {"id": 2}]}, "meta": None}
        self.assertEqual(at_path(document, "data.rows.1.id"), 2)
        self.assertEqual(at_path(document, "data.rows.-1"), {"id": 2})
        self.assertIs(at_path(document, "data.rows.2"), MISSING)
        self.assertIs(at_path(document, "data.cols"), MISSING)
        self.assertIsNone(at_path(document, "meta"))

    def test_positions_name_the_page_and_the_rows_read_of_it(self):
        paging = Paging(Pagination(offset=settings_of(paginate="offset").pagination.offset))
        first = paging.first(URL, {"since": "5"})
        self.assertEqual(first, PageRequest(URL, {"since": "5", "offset": 0, "limit": 100}))
        self.assertEqual(Paging.resumed(first.position(7)), first)
        self.assertIsNone(Paging.resumed(DONE))
        following = paging.after(first, None, MISSING, None)  # a page that was not JSON: a whole limit on
        self.assertEqual(following.params["offset"], 100)
        self.assertIsNone(Paging(None).after(first, None, [], 3))


class WaitsTest(unittest.TestCase):
    def test_retry_after_reads_seconds_and_http_dates(self):
        self.assertEqual(retry_after("3"), 3.0)
        self.assertIsNone(retry_after(None))
        self.assertIsNone(retry_after("soon"))
        later = email.utils.formatdate(time.time() + 30, usegmt=True)
        self.assertAlmostEqual(retry_after(later), 30, delta=2)
        self.assertEqual(retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)), 0.0)

    def test_backoff_doubles_within_its_bound_with_jitter(self):
        waits = [backoff(3, 0.5, 60) for _ in range(200)]
        self.assertTrue(all(0 <= wait <= 4 for wait in waits))
        self.assertGreater(len(set(waits)), 100)
        self.assertTrue(all(backoff(20, 0.5, 2) <= 2 for _ in range(50)))

    def test_a_rate_spaces_the_starts_of_requests(self):
        pace = Pace(50)
        started = time.monotonic()
        for _ in range(6):
            pace.wait()
        self.assertGreaterEqual(time.monotonic() - started, 0.09)
        unbounded = Pace(None)
        started = time.monotonic()
        for _ in range(1000):
            unbounded.wait()
        self.assertLess(time.monotonic() - started, 0.05)


if __name__ == "__main__":
    unittest.main()
