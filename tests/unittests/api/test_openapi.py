"""The Swagger document and UI: read from type hints, served from the package, no CDN."""

import contextlib
import dataclasses
import datetime as dt
import enum
import re
import unittest
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pdip.api.openapi import Schemas, parameters
from tests.unittests.api.sample_app import sample_api, sample_root

_ROOT = contextlib.ExitStack()
ROOT = None
INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}


def setUpModule():
    global ROOT
    ROOT, _ = _ROOT.enter_context(sample_root())


def tearDownModule():
    _ROOT.close()


class Size(enum.Enum):
    S = 1
    M = 2


@dataclasses.dataclass
class Inner:
    """A part."""

    code: str


@dataclasses.dataclass
class Outer:
    inner: Inner
    parts: list[Inner]
    size: Size
    when: dt.datetime | None = None
    mode: Literal["a", "b"] = "a"
    extra: dict[str, int] = dataclasses.field(default_factory=dict)
    anything: Any = None
    either: int | str = 0


class SchemasTest(unittest.TestCase):
    def test_scalars_and_containers(self):
        schemas = Schemas()
        self.assertEqual(schemas.of(int), INT64)
        self.assertEqual(schemas.of(Decimal), {"type": "string", "format": "decimal"})
        self.assertEqual(schemas.of(uuid.UUID), {"type": "string", "format": "uuid"})
        self.assertEqual(schemas.of(list[dt.date]), {"type": "array", "items": {"type": "string", "format": "date"}})
        self.assertEqual(schemas.of(set), {"type": "array", "items": {}})
        self.assertEqual(schemas.of(dict), {"type": "object", "additionalProperties": {}})
        self.assertEqual(schemas.of(str | None), {"type": "string", "x-nullable": True})
        self.assertEqual(schemas.of(object), {})

    def test_dataclasses_become_definitions_with_required_fields(self):
        schemas = Schemas()
        self.assertEqual(schemas.of(Outer), {"$ref": "#/definitions/Outer"})
        outer = schemas.definitions["Outer"]
        self.assertEqual(outer["required"], ["inner", "parts", "size"])
        properties = outer["properties"]
        self.assertEqual(properties["inner"], {"$ref": "#/definitions/Inner"})
        self.assertEqual(properties["parts"], {"type": "array", "items": {"$ref": "#/definitions/Inner"}})
        self.assertEqual(properties["size"], {"type": "integer", "enum": [1, 2]})
        self.assertEqual(properties["mode"], {"enum": ["a", "b"]})
        self.assertEqual(properties["extra"], {"type": "object", "additionalProperties": INT64})
        self.assertEqual(properties["anything"], {})
        self.assertEqual(properties["either"], {})
        self.assertEqual(schemas.definitions["Inner"]["description"], "A part.")
        self.assertNotIn("description", outer)  # a dataclass's generated docstring is not a description

    def test_annotated_hints_and_fields_outside_init(self):
        @dataclasses.dataclass
        class Counted:
            name: Annotated[str, "label"]
            total: int = dataclasses.field(init=False, default=0)

        @dataclasses.dataclass
        class Optional:
            note: str = ""

        schemas = Schemas()
        schemas.of(Counted)
        self.assertEqual(schemas.definitions["Counted"]["properties"], {"name": {"type": "string"}})
        self.assertEqual(schemas.of(Annotated[int, "label"]), INT64)
        schemas.of(Optional)
        self.assertNotIn("required", schemas.definitions["Optional"])

    def test_parameters_outside_the_body_take_plain_types(self):
        from pdip.api.routing import Action, Argument

        def action(*arguments):
            return Action(object, "get", lambda: None, "/x/<key>", list(arguments))

        schemas = Schemas()
        found = parameters(
            action(
                Argument("key", "route", Inner, True),
                Argument("mode", "query", Literal["a", "b"], False),
                Argument("sizes", "query", list[Size], False),
                Argument("anything", "query", Any, False),
            ),
            schemas,
        )
        self.assertEqual(found["key"], {"in": "path", "required": True, "type": "string"})
        self.assertEqual(found["mode"], {"in": "query", "required": False, "enum": ["a", "b"], "type": "string"})
        self.assertEqual(
            found["sizes"],
            {
                "in": "query",
                "required": False,
                "type": "array",
                "items": {"type": "integer", "enum": [1, 2]},
                "collectionFormat": "multi",
            },
        )
        self.assertEqual(found["anything"], {"in": "query", "required": False, "type": "string"})

    def test_two_classes_with_one_name_get_distinct_definitions(self):
        schemas = Schemas()
        Other = dataclasses.make_dataclass("Inner", [("x", int)])
        self.assertEqual(schemas.define(Inner), "Inner")
        self.assertEqual(schemas.define(Other), "Inner2")
        self.assertEqual(schemas.define(Inner), "Inner")


class SwaggerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pdi, api = sample_api(ROOT, {"TITLE": "Notes API", "VERSION": "2.1", "TENANT_REQUIRED": True})
        cls.client = api.test_client()
        cls.spec = cls.client.get("/swagger.json").get_json()

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()

    def operation(self, path, method):
        return self.spec["paths"][path][method]

    def parameters(self, path, method):
        return {parameter["name"]: parameter for parameter in self.operation(path, method)["parameters"]}

    def test_every_operation_documents_its_problem_responses(self):
        problem = {"$ref": "#/definitions/Problem"}
        for path, operations in self.spec["paths"].items():
            for method, operation in operations.items():
                with self.subTest(f"{method} {path}"):
                    self.assertEqual(operation["responses"]["default"]["schema"], problem)
                    self.assertIn("application/problem+json", operation["produces"])
        self.assertEqual(self.spec["produces"], ["application/json", "application/problem+json"])
        self.assertEqual(self.client.get("/swagger.json").get_json(), self.spec)  # patched once, served alike
        self.assertEqual(self.spec["definitions"]["Problem"]["required"], ["type", "title", "status"])
        one = self.operation("/api/Notes/{id}", "delete")["responses"]
        self.assertEqual([code for code in one if code[0] == "4"], ["400", "403", "404"])
        self.assertEqual(one["404"]["schema"], problem)
        created = self.operation("/api/Accounts", "post")
        self.assertEqual([code for code in created["responses"] if code[0] == "4"], ["400", "403", "413", "415"])
        self.assertEqual(created["consumes"], ["application/json"])

    def test_a_required_tenant_header_is_documented_as_not_blank_and_as_long_as_the_column(self):
        header = self.parameters("/api/Notes", "get")["X-Tenant-Id"]
        self.assertEqual((header["required"], header["pattern"], header["maxLength"]), (True, "\\S", 100))

    def test_the_spec_names_the_api_and_every_path(self):
        self.assertEqual(
            (self.spec["swagger"], self.spec["info"]["title"], self.spec["info"]["version"]),
            ("2.0", "Notes API", "2.1"),
        )
        for path in (
            "/api/Accounts",
            "/api/Notes",
            "/api/Notes/{id}",
            "/api/UserAccounts",
            "/api/things/{kind}/items/{number}",
        ):
            self.assertIn(path, self.spec["paths"])

    def test_a_dto_body_is_documented_by_its_definition(self):
        body = self.parameters("/api/Notes", "post")["payload"]
        self.assertEqual(
            (body["in"], body["required"], body["schema"]), ("body", True, {"$ref": "#/definitions/NoteInput"})
        )
        note_input = self.spec["definitions"]["NoteInput"]
        self.assertEqual(note_input["required"], ["title"])
        self.assertEqual(note_input["properties"]["colour"], {"type": "string", "enum": ["red", "blue"]})
        self.assertEqual(note_input["description"], "What a caller sends to create or replace a note.")

    def test_route_and_query_parameters_have_their_types(self):
        one = self.parameters("/api/Notes/{id}", "get")
        self.assertEqual((one["id"]["in"], one["id"]["type"], one["id"]["required"]), ("path", "integer", True))
        self.assertNotIn("id", self.parameters("/api/Notes", "get"))
        accounts = self.parameters("/api/UserAccounts", "get")
        self.assertEqual(
            (accounts["page"]["in"], accounts["page"]["type"], accounts["page"]["required"]),
            ("query", "integer", False),
        )
        self.assertEqual(accounts["names"]["collectionFormat"], "multi")
        search = self.parameters("/api/Search", "get")
        self.assertEqual(search["tags"]["type"], "array")
        self.assertEqual(search["priority"]["type"], "integer")

    def test_the_tenant_header_is_a_parameter(self):
        tenant = self.parameters("/api/Notes", "get")["X-Tenant-Id"]
        self.assertEqual((tenant["in"], tenant["required"]), ("header", True))

    def test_a_dto_return_annotation_documents_the_response(self):
        self.assertEqual(
            self.operation("/api/Notes", "post")["responses"]["200"]["schema"], {"$ref": "#/definitions/NoteView"}
        )
        self.assertEqual(
            self.operation("/api/Search", "get")["responses"]["200"]["schema"],
            {"type": "array", "items": {"$ref": "#/definitions/NoteView"}},
        )
        self.assertNotIn("schema", self.operation("/api/Accounts", "post")["responses"]["200"])

    def test_declared_and_empty_successes_are_documented_with_their_status(self):
        self.assertEqual(next(iter(self.operation("/api/Made", "post")["responses"])), "201")
        self.assertEqual(self.operation("/api/Notes/{id}", "delete")["responses"]["204"], {"description": "No content"})
        successes = [code for code in self.operation("/api/Notes", "get")["responses"] if code[0] == "2"]
        self.assertEqual(successes, ["200"])

    def test_operations_have_ids_summaries_and_tags(self):
        one = self.operation("/api/Notes/{id}", "get")
        self.assertEqual(
            (one["operationId"], one["summary"], one["tags"]),
            ("get_Notes_by_id", "One note by id, or all of them", ["Notes"]),
        )
        tags = {tag["name"]: tag.get("description") for tag in self.spec["tags"]}
        self.assertEqual(tags["Notes"], "Notes: create, read, change, delete.")

    def test_swagger_ui_is_served_from_the_package_without_a_cdn(self):
        page = self.client.get("/api/docs")
        self.assertEqual(page.status_code, 200)
        html = page.get_data(as_text=True)
        self.assertNotRegex(html, r"(src|href)=\"(https?:)?//")
        assets = re.findall(r"(?:src|href)=\"(/swaggerui/[^\"]+)\"", html)
        self.assertTrue(any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets)
        for asset in assets:
            with self.subTest(asset=asset):
                response = self.client.get(asset)
                self.assertEqual(response.status_code, 200)
                self.assertGreater(len(response.data), 100)
                response.close()
        self.assertIn("/swagger.json", html)

    def test_envelope_responses_are_documented_inside_result(self):
        pdi, api = sample_api(ROOT, {"ENVELOPE": True})
        with pdi:
            spec = api.test_client().get("/swagger.json").get_json()
        response = spec["paths"]["/api/Notes"]["post"]["responses"]["200"]
        self.assertIn("envelope", response["description"])
        self.assertEqual(next(iter(spec["paths"]["/api/Notes/{id}"]["delete"]["responses"])), "200")
        self.assertEqual(response["schema"], {"properties": {"Result": {"$ref": "#/definitions/NoteView"}}})

    def test_docs_can_be_switched_off(self):
        pdi, api = sample_api(ROOT, {"DOCS": False})
        with pdi:
            client = api.test_client()
            self.assertEqual(client.get("/swagger.json").status_code, 404)
            self.assertEqual(client.get("/api/docs").status_code, 404)
            self.assertEqual(client.get("/api/Health").status_code, 200)


if __name__ == "__main__":
    unittest.main()
