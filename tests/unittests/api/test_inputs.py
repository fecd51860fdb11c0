"""Input a client got wrong is a 400 (or 415) naming the field, never a 500 (issue #19)."""

import contextlib
import json
import unittest

from pdip import Pdi
from pdip.api import ApiApp
from pdip.api.inputs import last_page_number, parse_json, unstorable, value_problem
from pdip.dependency import PdiConfigurationError
from tests.support.apps import application

FILES = {
    "{pkg}/__init__.py": "",
    "{pkg}/items.py": """
        import dataclasses

        from pdip.api import ControllerBase, accepts
        from pdip.cqrs.decorators import dtoclass


        @dtoclass
        class Item:
            title: str
            count: int = 0
            share: float = 0.0
            tags: list[str] = dataclasses.field(default_factory=list)


        @dtoclass
        class Filter:
            name: str = ""
            size: int = 10


        class ItemsController(ControllerBase):
            def get(self, id: int | None = None, page: int = 1, size: int = 20, limit: int | None = None):
                return {"id": id, "page": page, "size": size, "limit": limit}

            def post(self, item: Item) -> Item:
                return item

            def put(self, id: int, body):
                return {"id": id, "body": body}


        class SearchController(ControllerBase):
            def get(self, query: Filter):
                return query.to_dict()


        class TextController(ControllerBase):
            @accepts("text/plain")
            def post(self, body: str):
                return {"text": body}

            @accepts("application/octet-stream")
            def put(self, body: bytes):
                return {"length": len(body)}
    """,
}

_ROOT = contextlib.ExitStack()
ROOT = None


def setUpModule():
    global ROOT
    ROOT, _ = _ROOT.enter_context(application(FILES))


def tearDownModule():
    _ROOT.close()


class InputTestCase(unittest.TestCase):
    api_section: dict = {}

    @classmethod
    def setUpClass(cls):
        configuration = {"API": {"EXECUTIONS": False, **cls.api_section}, "CQRS": {"LOGGING": False}}
        cls.pdi = Pdi(ROOT, configurations=configuration)
        cls.client = cls.pdi.get(ApiApp).test_client()

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()

    def assertBadField(self, response, field, message, where="body"):
        self.assertEqual(response.status_code, 400, response.get_data(as_text=True))
        self.assertEqual(response.mimetype, "application/problem+json")
        errors = response.get_json()["errors"]
        self.assertIn(field, [error["field"] for error in errors], errors)
        error = next(error for error in errors if error["field"] == field)
        self.assertEqual(error["in"], where)
        self.assertIn(message, error["message"])

    def post_raw(self, path, text, content_type="application/json"):
        return self.client.post(path, data=text.encode("utf-8", "surrogatepass"), content_type=content_type)


class BodyTest(InputTestCase):
    def test_json_nested_two_thousand_deep_is_a_400_not_a_recursion_error(self):
        response = self.post_raw("/api/Items", "[" * 2000 + "]" * 2000)
        self.assertEqual(response.status_code, 400)
        self.assertIn("nested too deeply", response.get_json()["detail"])

    def test_an_integer_beyond_64_bits_is_refused_with_its_field(self):
        response = self.post_raw("/api/Items", json.dumps({"title": "a", "count": 2**63}))
        self.assertBadField(response, "count", "64 bits")
        response = self.client.put(
            "/api/Items/1", data=json.dumps({"deep": [1, {"n": -(2**63) - 1}]}), content_type="application/json"
        )
        self.assertBadField(response, "deep[1].n", "64 bits")

    def test_the_largest_64_bit_integers_are_accepted(self):
        response = self.client.put("/api/Items/1", json={"low": -(2**63), "high": 2**63 - 1})
        self.assertEqual(response.get_json()["body"], {"low": -(2**63), "high": 2**63 - 1})

    def test_a_lone_surrogate_is_refused_with_its_field(self):
        response = self.post_raw("/api/Items", '{"title": "a\\ud800b"}')
        self.assertBadField(response, "title", "lone UTF-16 surrogate")
        paired = self.post_raw("/api/Items", '{"title": "\\ud83d\\ude00"}')
        self.assertEqual(paired.status_code, 200)
        self.assertEqual(paired.get_json()["title"], "\U0001f600")

    def test_a_nul_character_is_refused_in_values_and_in_names(self):
        self.assertBadField(self.post_raw("/api/Items", '{"title": "a\\u0000"}'), "title", "NUL")
        response = self.client.put("/api/Items/1", data='{"k\\u0000": 1}', content_type="application/json")
        self.assertBadField(response, "k\x00", "the field's name holds a NUL")

    def test_numbers_that_are_not_finite_are_refused(self):
        self.assertBadField(self.post_raw("/api/Items", '{"title": "a", "share": 1e400}'), "share", "finite")
        response = self.post_raw("/api/Items", '{"title": "a", "share": NaN}')
        self.assertEqual(response.status_code, 400)
        self.assertIn("NaN is not a JSON number", response.get_json()["detail"])

    def test_a_body_that_is_not_json_answers_415_naming_what_is_read(self):
        response = self.post_raw("/api/Items", '{"title": "a"}', content_type="text/plain")
        self.assertEqual(response.status_code, 415)
        self.assertEqual(response.mimetype, "application/problem+json")
        self.assertIn("Content-Type is text/plain; this action reads application/json", response.get_json()["detail"])
        missing = self.client.post("/api/Items", data=b'{"title": "a"}', headers={"Content-Type": ""})
        self.assertEqual(missing.status_code, 415)
        self.assertIn("Content-Type is missing", missing.get_json()["detail"])

    def test_json_variants_are_read_as_json(self):
        response = self.post_raw("/api/Items", '{"title": "a"}', content_type="application/merge-patch+json")
        self.assertEqual(response.get_json()["title"], "a")

    def test_an_action_may_accept_another_type_as_text_or_bytes(self):
        text = self.post_raw("/api/Text", "hello", content_type="text/plain; charset=utf-8")
        self.assertEqual(text.get_json(), {"text": "hello"})
        self.assertEqual(self.post_raw("/api/Text", '"hi"').get_json(), {"text": "hi"})
        raw = self.client.put("/api/Text", data=b"\x00\xff", content_type="application/octet-stream")
        self.assertEqual(raw.get_json(), {"length": 2})
        other = self.post_raw("/api/Text", "a,b", content_type="text/csv")
        self.assertEqual(other.status_code, 415)
        self.assertIn("reads application/json, text/plain", other.get_json()["detail"])

    def test_accepted_text_must_be_storable_utf_8(self):
        latin = self.client.post("/api/Text", data=b"caf\xe9", content_type="text/plain")
        self.assertEqual(latin.status_code, 400)
        self.assertIn("not UTF-8 text", latin.get_json()["detail"])
        self.assertBadField(self.post_raw("/api/Text", "a\x00", content_type="text/plain"), "body", "NUL")


class QueryTest(InputTestCase):
    def test_size_and_limit_are_bounded_by_max_page_size(self):
        self.assertEqual(self.client.get("/api/Items?size=1000&limit=1").get_json()["size"], 1000)
        for query, field in (("size=-1", "size"), ("size=0", "size"), ("size=1001", "size"), ("limit=0", "limit")):
            with self.subTest(query):
                self.assertBadField(self.client.get(f"/api/Items?{query}"), field, "expected 1 to 1000", "query")
        self.assertBadField(self.client.get(f"/api/Items?size={10**12}"), "size", "API.MAX_PAGE_SIZE", "query")

    def test_page_is_bounded_so_its_offset_fits_in_64_bits(self):
        last = last_page_number(1000)
        self.assertEqual(self.client.get(f"/api/Items?page={last}").get_json()["page"], last)
        self.assertBadField(self.client.get(f"/api/Items?page={last + 1}"), "page", f"expected 1 to {last}", "query")
        self.assertBadField(self.client.get(f"/api/Items?page={2**63}"), "page", "expected 1", "query")
        self.assertBadField(self.client.get("/api/Items?page=0"), "page", "expected 1", "query")

    def test_integers_beyond_64_bits_in_the_route_are_refused(self):
        self.assertBadField(self.client.get(f"/api/Items/{2**64}"), "id", "64 bits", "route")
        self.assertEqual(self.client.get(f"/api/Items/{2**63 - 1}").get_json()["id"], 2**63 - 1)

    def test_query_objects_are_checked_field_by_field(self):
        self.assertBadField(self.client.get("/api/Search?name=a%00b"), "name", "NUL", "query")
        self.assertBadField(self.client.get("/api/Search?size=5000"), "size", "expected 1 to 1000", "query")
        self.assertEqual(self.client.get("/api/Search?name=a&size=5").get_json(), {"name": "a", "size": 5})
        self.assertEqual(self.client.get("/api/Search?size=x").status_code, 400)


class SpecTest(InputTestCase):
    def test_paging_bounds_and_accepted_types_are_in_the_spec(self):
        spec = self.client.get("/swagger.json").get_json()
        query = {item["name"]: item for item in spec["paths"]["/api/Items"]["get"]["parameters"]}
        self.assertEqual((query["size"]["minimum"], query["size"]["maximum"]), (1, 1000))
        self.assertEqual((query["limit"]["minimum"], query["limit"]["maximum"]), (1, 1000))
        self.assertEqual((query["page"]["minimum"], query["page"]["maximum"]), (1, last_page_number(1000)))
        self.assertEqual(spec["paths"]["/api/Text"]["post"]["consumes"], ["application/json", "text/plain"])
        self.assertFalse(spec["definitions"]["Item"]["additionalProperties"])

    def test_a_tenant_header_longer_than_the_column_is_refused(self):
        response = self.client.get("/api/Items", headers={"X-Tenant-Id": "t" * 101})
        self.assertEqual(response.status_code, 400)
        self.assertIn("longer than 100 characters", response.get_json()["detail"])
        self.assertEqual(self.client.get("/api/Items", headers={"X-Tenant-Id": "t" * 100}).status_code, 200)


class ConfiguredPageSizeTest(InputTestCase):
    api_section = {"MAX_PAGE_SIZE": 50}

    def test_the_bound_follows_api_max_page_size(self):
        self.assertEqual(self.client.get("/api/Items?size=50").status_code, 200)
        self.assertBadField(self.client.get("/api/Items?size=51"), "size", "expected 1 to 50", "query")


class LimitsTest(unittest.TestCase):
    def test_limits_below_one_are_refused_at_start_naming_the_key(self):
        for key in ("MAX_PAGE_SIZE", "MAX_BODY_BYTES", "WORKERS", "THREADS", "EXECUTION_WORKERS"):
            with self.subTest(key), Pdi(ROOT, configurations={"API": {key: 0}}) as pdi:
                with self.assertRaises(PdiConfigurationError) as caught:
                    pdi.get(ApiApp)
                self.assertIn(f"API.{key}: expected a whole number of at least 1, got 0", str(caught.exception))


class DecoratorsTest(unittest.TestCase):
    def test_media_types_must_look_like_media_types(self):
        from pdip.api import accepts, produces

        for decorator in (accepts, produces):
            with self.subTest(decorator.__name__), self.assertRaises(ValueError) as caught:
                decorator("csv")
            self.assertIn("expected media types such as 'text/csv'", str(caught.exception))


class PartsTest(unittest.TestCase):
    def test_parse_json_reads_well_formed_bodies_without_walking_them(self):
        self.assertEqual(parse_json(b'{"a": [1, 2.5, "x"]}'), {"a": [1, 2.5, "x"]})

    def test_unstorable_names_every_path(self):
        found = list(unstorable({"a": [1, 2**70], "b": {"c": "\ud800"}, "d": float("inf")}))
        self.assertEqual([path for path, _ in found], ["a[1]", "b.c", "d"])

    def test_other_json_values_are_always_storable(self):
        self.assertEqual(list(unstorable([True, None, 1.5, "a"])), [])

    def test_value_problem_leaves_other_names_and_types_alone(self):
        self.assertIsNone(value_problem("size", "big", 10))
        self.assertIsNone(value_problem("count", 10**6, 10))
        self.assertIn("64 bits", value_problem("count", 2**63, 10))
