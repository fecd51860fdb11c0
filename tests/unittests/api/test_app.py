"""The REST API through Flask's test client: routing, conversion, responses, errors, scopes."""

import contextlib
import io
import json
import unittest
from http import HTTPStatus

from pdip.api import ApiApp
from pdip.dependency import PdiConfigurationError
from tests.unittests.api.sample_app import sample_api, sample_root

_ROOT = contextlib.ExitStack()
ROOT = PACKAGE = None


def setUpModule():
    global ROOT, PACKAGE
    ROOT, PACKAGE = _ROOT.enter_context(sample_root())


def tearDownModule():
    _ROOT.close()


class ApiTestCase(unittest.TestCase):
    api_section: dict = {}

    @classmethod
    def setUpClass(cls):
        cls.pdi, cls.api = sample_api(ROOT, cls.api_section)
        cls.client = cls.api.test_client()

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()

    def assertProblem(self, response, status, detail=None):
        self.assertEqual(response.status_code, status, response.get_data(as_text=True))
        self.assertEqual(response.mimetype, "application/problem+json")
        document = response.get_json()
        self.assertEqual(document["status"], status)
        self.assertEqual(document["type"], "about:blank")
        self.assertIn("title", document)
        if detail is not None:
            self.assertIn(detail, document["detail"])
        return document


class RoutingTest(ApiTestCase):
    def test_the_issue_controller_is_served_at_api_accounts(self):
        response = self.client.post("/api/Accounts", json={"email": "a@b.com", "display_name": "Alice"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"ok": True, "email": "a@b.com"})

    def test_the_class_name_minus_controller_is_the_path_case_kept(self):
        self.assertEqual(self.client.get("/api/UserAccounts").status_code, 200)
        self.assertEqual(self.client.get("/api/useraccounts").status_code, 404)

    def test_controllers_at_any_depth_are_served_and_abstract_bases_are_not(self):
        self.assertEqual(self.client.get("/api/Colours?page=2").get_json(), ["blue"])
        self.assertEqual(self.client.get("/api/Paged").status_code, 404)

    def test_every_defined_method_is_registered_and_only_those(self):
        routes = set(self.api.routes)
        self.assertIn(("GET", "/api/Notes", "Notes.get"), routes)
        self.assertIn(("GET", "/api/Notes/<id>", "Notes.get"), routes)
        for method in ("PUT", "PATCH", "DELETE"):
            self.assertIn((method, "/api/Notes/<id>", f"Notes.{method.lower()}"), routes)
        self.assertIn(("POST", "/api/Notes", "Notes.post"), routes)
        self.assertNotIn(("POST", "/api/Notes/<id>", "Notes.post"), routes)

    def test_a_method_not_defined_is_405_with_allow(self):
        response = self.client.delete("/api/Accounts")
        document = self.assertProblem(response, 405, "DELETE is not served at /api/Accounts")
        self.assertIn("POST", response.headers["Allow"])
        self.assertEqual(document["instance"], "/api/Accounts")

    def test_an_unknown_path_is_404(self):
        self.assertProblem(self.client.get("/api/Nothing"), 404, "nothing is served at /api/Nothing")
        self.assertProblem(self.client.get("/"), 404)

    def test_an_explicit_route_with_placeholders_and_annotated_sources(self):
        response = self.client.get("/api/things/bolts/items/7?verbose=yes")
        self.assertEqual(response.get_json(), {"kind": "bolts", "number": 7, "verbose": True})
        response = self.client.post("/api/things/bolts/items", json={"a": 1})
        self.assertEqual(response.get_json(), {"kind": "bolts", "payload": {"a": 1}})
        self.assertEqual(self.client.post("/api/things/nuts/items").get_json(), {"kind": "nuts", "payload": None})

    def test_head_and_options_are_answered_for_get(self):
        self.assertEqual(self.client.head("/api/UserAccounts").status_code, 200)
        self.assertIn("GET", self.client.options("/api/UserAccounts").headers["Allow"])

    def test_the_app_is_a_wsgi_application(self):
        statuses = []
        body = b"".join(
            self.api(
                {
                    "REQUEST_METHOD": "GET",
                    "PATH_INFO": "/api/Health",
                    "SERVER_NAME": "x",
                    "SERVER_PORT": "80",
                    "wsgi.url_scheme": "http",
                    "wsgi.input": io.BytesIO(),
                },
                lambda status, headers: statuses.append(status),
            )
        )
        self.assertEqual(statuses, ["200 OK"])
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_pdi_get_gives_one_api_per_pdi(self):
        self.assertIs(self.pdi.get(ApiApp), self.api)
        self.assertIs(self.api.app.test_client().application, self.api.app)


class ConversionTest(ApiTestCase):
    def test_a_dto_parameter_is_built_from_the_json_body(self):
        response = self.client.post("/api/Notes", json={"title": "milk", "priority": 2, "tags": ["home"]})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.headers["Location"], "/api/Notes/1")
        note = response.get_json()
        self.assertEqual((note["title"], note["priority"], note["tags"], note["colour"]), ("milk", 2, ["home"], "blue"))
        self.assertEqual(note["created"], "2026-11-22T09:30:00+00:00")

    def test_validation_failures_are_400_problems_listing_every_field(self):
        response = self.client.post("/api/Notes", json={"priority": "high", "colour": "green", "extra": 1})
        document = self.assertProblem(response, 400, "the request is invalid")
        by_field = {error["field"]: error for error in document["errors"]}
        self.assertEqual(set(by_field), {"title", "priority", "colour", "extra"})
        self.assertEqual(by_field["priority"]["in"], "body")
        self.assertEqual(by_field["priority"]["message"], "expected int, got 'high'")
        self.assertEqual(by_field["extra"]["message"], "unknown field")
        self.assertIn("required", by_field["title"]["message"])

    def test_bad_json_and_a_missing_body_are_400(self):
        bad = self.client.post("/api/Notes", data="{title:", content_type="application/json")
        self.assertProblem(bad, 400, "the body is not valid JSON")
        missing = self.client.post("/api/Notes")
        document = self.assertProblem(missing, 400)
        self.assertEqual(document["errors"], [{"field": "note", "in": "body", "message": "a JSON body is required"}])

    def test_a_body_that_does_not_fit_the_command_is_400_not_500(self):
        response = self.client.post("/api/Accounts", json={"email": "a@b.com"})
        self.assertProblem(response, 400, "missing 1 required keyword-only argument: 'display_name'")

    def test_a_rejected_secret_is_never_echoed(self):
        document = self.assertProblem(self.client.post("/api/Login", json={"user": "ann", "password": 12345678}), 400)
        self.assertEqual(document["errors"], [{"field": "password", "in": "body", "message": "expected str, got ***"}])
        self.assertNotIn("12345678", json.dumps(document))

    def test_a_validation_error_from_the_pipeline_is_400_listing_its_problems(self):
        wrong_type = self.client.put("/api/Login", json={"user": 7, "password": 123456789})
        document = self.assertProblem(wrong_type, 400, "SetPasswordCommand is invalid")
        self.assertEqual(
            document["errors"],
            [
                {"field": "user", "message": "expected str, got 7"},
                {"field": "password", "message": "expected str, got ***"},
            ],
        )
        too_short = self.assertProblem(self.client.put("/api/Login", json={"user": "ann", "password": "short"}), 400)
        self.assertEqual(too_short["errors"], [{"field": "", "message": "password: at least 8 characters"}])
        self.assertEqual(
            self.client.put("/api/Login", json={"user": "ann", "password": "long enough"}).get_json(), {"user": "ann"}
        )

    def test_route_values_are_converted_and_checked(self):
        created = self.client.post("/api/Notes", json={"title": "first"}).get_json()
        self.assertEqual(self.client.get(f"/api/Notes/{created['id']}").get_json()["title"], "first")
        document = self.assertProblem(self.client.get("/api/Notes/one"), 400)
        self.assertEqual(document["errors"], [{"field": "id", "in": "route", "message": "expected int, got 'one'"}])

    def test_query_values_are_converted_from_text(self):
        response = self.client.get("/api/UserAccounts?page=3&active=no&names=a&names=b")
        self.assertEqual(
            response.get_json(), {"page": 3, "size": 10, "active": False, "names": ["a", "b"], "counts": []}
        )
        document = self.assertProblem(self.client.get("/api/UserAccounts?page=x&counts=1&counts=two"), 400)
        self.assertEqual(
            document["errors"],
            [
                {"field": "page", "in": "query", "message": "expected int, got 'x'"},
                {"field": "counts[1]", "in": "query", "message": "expected int, got 'two'"},
            ],
        )

    def test_a_required_query_value_that_is_missing_is_400(self):
        document = self.assertProblem(self.client.get("/api/Failures"), 400)
        self.assertEqual(document["errors"], [{"field": "kind", "in": "query", "message": "required"}])

    def test_a_dto_parameter_of_get_comes_from_the_query_string(self):
        self.client.post("/api/Notes", json={"title": "tagged", "priority": 5, "tags": ["x", "y"]})
        found = self.client.get("/api/Search?priority=5&tags=x").get_json()
        self.assertEqual([note["title"] for note in found], ["tagged"])
        document = self.assertProblem(self.client.get("/api/Search?priority=top&colour=red"), 400)
        self.assertEqual({error["field"] for error in document["errors"]}, {"priority", "colour"})
        self.assertEqual({error["in"] for error in document["errors"]}, {"query"})

    def test_put_patch_and_delete_take_the_id_from_the_url(self):
        number = self.client.post("/api/Notes", json={"title": "draft"}).get_json()["id"]
        changed = self.client.put(f"/api/Notes/{number}", json={"title": "final", "priority": 3}).get_json()
        self.assertEqual((changed["id"], changed["title"], changed["priority"]), (number, "final", 3))
        patched = self.client.patch(f"/api/Notes/{number}", json={"b": 1, "a": 2}).get_json()
        self.assertEqual(patched, {"id": number, "changed": ["a", "b"]})
        deleted = self.client.delete(f"/api/Notes/{number}")
        self.assertEqual((deleted.status_code, deleted.data), (204, b""))
        self.assertProblem(self.client.get(f"/api/Notes/{number}"), 404, f"no note {number}")


class ResponsesTest(ApiTestCase):
    def test_return_values_become_json(self):
        shapes = {
            kind: self.client.get(f"/api/Shapes?kind={kind}")
            for kind in ("dict", "list", "text", "dataclass", "dict-keys")
        }
        self.assertEqual(shapes["dict"].get_json(), {"a": 1})
        self.assertEqual(shapes["list"].get_json(), [1, "two"])
        self.assertEqual(shapes["text"].get_json(), "hello")
        self.assertEqual(shapes["dict-keys"].get_json(), {"1": "one"})
        self.assertEqual(
            shapes["dataclass"].get_json(),
            {"when": "2026-01-02T03:04:05", "amount": "1.50", "key": "00000000-0000-0000-0000-000000000007"},
        )
        self.assertTrue(all(response.mimetype == "application/json" for response in shapes.values()))

    def test_a_declared_status_is_sent_with_a_plain_return_value(self):
        made = self.client.post("/api/Made")
        self.assertEqual((made.status_code, made.get_json()), (201, {"made": True}))

    def test_none_is_204_and_a_tuple_sets_the_status(self):
        none = self.client.get("/api/Shapes?kind=none")
        self.assertEqual((none.status_code, none.data), (204, b""))
        created = self.client.get("/api/Shapes?kind=tuple")
        self.assertEqual((created.status_code, created.get_json()), (201, {"created": True}))


class EnvelopeTest(ApiTestCase):
    api_section = {"ENVELOPE": True}

    def test_successes_are_wrapped(self):
        self.assertEqual(
            self.client.get("/api/Shapes?kind=dict").get_json(),
            {"IsSuccess": True, "Message": None, "Result": {"a": 1}},
        )
        none = self.client.get("/api/Shapes?kind=none")
        self.assertEqual((none.status_code, none.get_json()["Result"]), (200, None))
        self.assertEqual(self.client.get("/api/Shapes?kind=tuple").status_code, 201)

    def test_errors_stay_problems_with_the_envelope_members(self):
        document = self.assertProblem(self.client.get("/api/Failures?kind=declared"), 409)
        self.assertEqual((document["IsSuccess"], document["Message"]), (False, "an account with that email exists"))


class ErrorsTest(ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.api_section = {"ERROR_STATUS": {f"{PACKAGE}.misc.controllers:MappedError": 422}}
        super().setUpClass()

    def failing(self, kind):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            response = self.client.get(f"/api/Failures?kind={kind}")
        return response, output.getvalue()

    def test_handler_not_found_is_a_generic_500_with_the_detail_logged(self):
        response, log = self.failing("handler")
        document = self.assertProblem(response, 500, "the error is logged")
        self.assertNotIn("Unhandled", response.get_data(as_text=True))
        self.assertNotIn("Traceback", response.get_data(as_text=True))
        self.assertIn("HandlerNotFoundError", log)
        self.assertIn("no handler for Unhandled", log)
        self.assertIn(document["reference"], log)

    def test_an_unexpected_error_never_shows_its_message_or_a_secret(self):
        response, log = self.failing("boom")
        text = response.get_data(as_text=True)
        self.assertProblem(response, 500)
        self.assertNotIn("hunter2", text)
        self.assertNotIn("connect failed", text)
        self.assertIn("builtins:RuntimeError: connect failed: postgresql://app:***@db/app", log)
        self.assertIn("controllers.py", log)  # the traceback, as a field of the one log line
        self.assertNotIn("hunter2", log)

    def test_a_type_error_deeper_than_the_action_stays_a_500(self):
        response, log = self.failing("deep-type-error")
        self.assertProblem(response, 500)
        self.assertIn("TypeError", log)

    def test_a_declared_domain_error_has_its_status_title_and_message(self):
        response, _ = self.failing("declared")
        document = self.assertProblem(response, 409, "an account with that email exists")
        self.assertEqual(document["title"], "Duplicate")

    def test_the_configuration_maps_an_error_class_to_a_status(self):
        response, _ = self.failing("mapped")
        document = self.assertProblem(response, 422, "mapped by configuration")
        self.assertEqual(document["title"], HTTPStatus(422).phrase)

    def test_an_api_error_carries_its_field_errors(self):
        response, _ = self.failing("conflict")
        document = self.assertProblem(response, 409, "version 3 is not the latest")
        self.assertEqual(document["errors"], [{"field": "version", "message": "stale"}])


class LimitsTest(ApiTestCase):
    api_section = {"MAX_BODY_BYTES": 64, "CORS_ORIGINS": ["https://app.example.com"]}

    def test_a_body_over_the_limit_is_413(self):
        response = self.client.post("/api/Notes", json={"title": "x" * 100})
        self.assertProblem(response, 413, "larger than the limit of 64 bytes")
        self.assertEqual(self.client.post("/api/Notes", json={"title": "short"}).status_code, 201)

    def test_cors_allows_the_configured_origins_only(self):
        allowed = self.client.get("/api/Health", headers={"Origin": "https://app.example.com"})
        self.assertEqual(allowed.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        other = self.client.get("/api/Health", headers={"Origin": "https://evil.example.com"})
        self.assertNotIn("Access-Control-Allow-Origin", other.headers)
        preflight = self.client.options(
            "/api/Notes",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type",
            },
        )
        self.assertEqual(preflight.status_code, 200)
        self.assertIn("POST", preflight.headers["Access-Control-Allow-Methods"])

    def test_without_origins_no_cors_headers_are_sent(self):
        pdi, api = sample_api(ROOT)
        with pdi:
            response = api.test_client().get("/api/Health", headers={"Origin": "https://app.example.com"})
        self.assertNotIn("Access-Control-Allow-Origin", response.headers)


class TenantHeaderTest(ApiTestCase):
    def test_without_authentication_the_header_names_the_tenant(self):
        who = self.client.get("/api/Who", headers={"X-Tenant-Id": "t1"}).get_json()
        self.assertEqual(who, {"principal": None, "tenant": "t1", "context": "t1"})
        self.assertEqual(self.client.get("/api/Who").get_json()["tenant"], None)

    def test_an_empty_tenant_header_setting_leaves_it_out_of_the_spec(self):
        pdi, api = sample_api(ROOT, {"TENANT_HEADER": ""})
        with pdi:
            client = api.test_client()
            parameters = client.get("/swagger.json").get_json()["paths"]["/api/Who"]["get"].get("parameters", [])
            self.assertEqual(parameters, [])
            self.assertIsNone(client.get("/api/Who", headers={"X-Tenant-Id": "t1"}).get_json()["tenant"])


class ScopesTest(ApiTestCase):
    def test_each_request_runs_in_its_own_scope_closed_after_it(self):
        from importlib import import_module

        log = import_module(f"{PACKAGE}.misc.controllers").RequestLog
        log.created.clear()
        log.closed.clear()
        first = self.client.get("/api/Scopes").get_json()
        second = self.client.get("/api/Scopes").get_json()
        self.assertTrue(first["same"] and second["same"])
        self.assertEqual(len(log.created), 2)
        self.assertEqual(log.closed, log.created)
        self.assertFalse(self.pdi.container.in_scope)


class StartupTest(unittest.TestCase):
    def test_a_controller_that_cannot_be_built_fails_at_start_naming_it(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/broken_controller.py": (
                "from pdip.api import ControllerBase\n"
                "class Missing:\n    def __init__(self, url: str):\n        self.url = url\n"
                "class BrokenController(ControllerBase):\n"
                "    def __init__(self, missing: Missing):\n        self.missing = missing\n"
                "    def get(self):\n        return 1\n"
            ),
        }
        from pdip import Pdi
        from tests.support.apps import application

        with application(files) as (root, _):
            with Pdi(root, configurations={"API": {"EXECUTIONS": False}}) as pdi:
                with self.assertRaises(PdiConfigurationError) as raised:
                    pdi.get(ApiApp)
        self.assertIn("BrokenController -> Missing", str(raised.exception))

    def test_two_controllers_at_one_url_fail_at_start(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/a/__init__.py": "",
            "{pkg}/b/__init__.py": "",
            "{pkg}/a/items_controller.py": "from pdip.api import ControllerBase\nclass ItemsController(ControllerBase):\n    def get(self):\n        return 'a'\n",
            "{pkg}/b/items_controller.py": "from pdip.api import ControllerBase\nclass ItemsController(ControllerBase):\n    def post(self):\n        return 'b'\n",
        }
        from pdip import Pdi
        from pdip.api import RoutingError
        from tests.support.apps import application

        with application(files) as (root, _):
            with Pdi(root, configurations={"API": {"EXECUTIONS": False}}) as pdi:
                with self.assertRaises(RoutingError) as raised:
                    pdi.get(ApiApp)
            self.assertIn("are both served at /api/Items", str(raised.exception))
            with Pdi(root, configurations={"API": {"EXECUTIONS": False, "NAMESPACES": True}}) as pdi:
                client = pdi.get(ApiApp).test_client()
                self.assertEqual(client.get("/api/a/Items").get_json(), "a")
                self.assertEqual(client.post("/api/b/Items").get_json(), "b")


if __name__ == "__main__":
    unittest.main()
