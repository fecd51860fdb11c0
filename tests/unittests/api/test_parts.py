"""The API's small parts on their own: responses, problems, errors, markers, the lazy import."""

import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import sys
import unittest
import uuid
from typing import Annotated
from unittest import mock

from flask import Flask
from werkzeug.exceptions import Gone

import pdip.api
from pdip.api import FromBody, FromQuery, FromRoute, error_status
from pdip.api.errors import ApiError, declared_status, declared_title, shown_value
from pdip.api.problems import ProblemMapper
from pdip.api.responses import json_text, plain, problem, result_response
from pdip.api.routing import QUERY_OBJECT, _split
from pdip.cqrs import ValidationError
from pdip.cqrs.decorators import dtoclass
from pdip.data import ConstraintViolationError, EntityNotFoundError, TenantMismatchError


class Shaped:
    def to_dict(self):
        return {"shape": "round"}


class Mapped:
    class __mapper__:  # stands in for SQLAlchemy's mapper: what `plain` reads of an entity
        column_attrs = [type("Attribute", (), {"key": "Title"})()]

    Title = "hello"


class Frozen(dict):
    pass


@dataclasses.dataclass
class Query:
    q: str


class Colour(enum.Enum):
    RED = "red"


@dtoclass
class Reading:
    id: uuid.UUID
    at: dt.datetime
    day: dt.date
    amount: decimal.Decimal
    colour: Colour
    raw: bytes
    tags: frozenset
    extra: dict
    inner: Query | None = None


@dtoclass
class Summary:
    count: int

    def to_dict(self):
        return {"total": self.count}


def standard_json(value):
    """What the API wrote before orjson: the standard library over `plain`."""
    return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))


def text_of(written):
    return written.decode("utf-8") if isinstance(written, bytes) else written


class JsonTextTest(unittest.TestCase):
    reading = Reading(
        id=uuid.UUID(int=7),
        at=dt.datetime(2026, 12, 6, 5, 30, 1, 250, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        day=dt.date(2026, 12, 6),
        amount=decimal.Decimal("12.50"),
        colour=Colour.RED,
        raw=b"\x00\xff",
        tags=frozenset({"a"}),
        extra={1: "one", "naïve": dt.datetime(2026, 1, 1)},
        inner=Query("q"),
    )

    def test_values_are_written_as_the_standard_library_wrote_plain_values(self):
        for value in (
            self.reading,
            [self.reading, {"k": [self.reading]}],
            (1, "ü", None, True, 2.5),
            {"set": {3}, "frozen": Frozen(a=(1, 2)), "entity": Mapped(), "shaped": Shaped()},
            {uuid.UUID(int=1): dt.date(2026, 1, 2), True: 1},
        ):
            with self.subTest(value=value):
                self.assertEqual(text_of(json_text(value)), standard_json(value))

    def test_a_dto_with_its_own_to_dict_is_written_by_it(self):
        self.assertEqual(json.loads(json_text(Summary(count=3))), {"total": 3})
        self.assertEqual(json.loads(json_text([Summary(count=3)])), [{"total": 3}])

    def test_what_orjson_refuses_is_written_by_the_standard_library(self):
        self.assertEqual(text_of(json_text({"big": 2**70})), '{"big":1180591620717411303424}')
        self.assertEqual(text_of(json_text([dt.time(1, 2, tzinfo=dt.timezone.utc)])), '["01:02:00+00:00"]')

    def test_what_nothing_can_write_is_a_type_error(self):
        with self.assertRaises(TypeError):
            json_text({"object": object()})

    def test_json_has_no_nan_so_non_finite_numbers_are_null(self):
        self.assertEqual(json.loads(json_text({"x": float("nan"), "y": float("inf")})), {"x": None, "y": None})


class ResponsesTest(unittest.TestCase):
    def test_plain_knows_to_dict_entities_and_other_mappings(self):
        self.assertEqual(plain(Shaped()), {"shape": "round"})
        self.assertEqual(plain(Mapped()), {"Title": "hello"})
        self.assertEqual(plain(Frozen(a=(1, 2))), {"a": [1, 2]})
        self.assertEqual(plain({"items": [Shaped()]}), {"items": [{"shape": "round"}]})
        self.assertIs(plain(Shaped), Shaped)  # a class is not an instance to serialise

    def test_a_problem_has_a_title_for_any_status(self):
        self.assertEqual(problem(599)["title"], "Error")
        self.assertEqual(
            problem(404, title="Gone away", type="https://errors.example/gone")["type"], "https://errors.example/gone"
        )
        self.assertNotIn("detail", problem(400))

    def test_a_response_object_is_sent_as_is(self):
        response = result_response(({"a": 1}, 200, {"X-Count": "1"}))
        self.assertEqual((response.status_code, response.headers["X-Count"]), (200, "1"))
        self.assertIs(result_response(response), response)


class ProblemsTest(unittest.TestCase):
    def document(self, error, mapper=None):
        mapper = mapper or ProblemMapper({}, envelope=False, logger=lambda: None)
        with Flask("t").test_request_context("/api/Things"):
            return mapper.document(error)[0]

    def test_pdip_errors_say_only_what_is_safe(self):
        mismatch = self.document(TenantMismatchError("Note", "tenant-b", "tenant-a"))
        self.assertEqual((mismatch["status"], mismatch["detail"]), (403, "the row belongs to another tenant"))
        violation = self.document(ConstraintViolationError("Note", "uq_title", "duplicate key value (title)=(secret)"))
        self.assertEqual((violation["status"], violation["detail"]), (409, "Note violates constraint uq_title"))
        unnamed = self.document(ConstraintViolationError("Note", None, "x"))
        self.assertEqual(unnamed["detail"], "Note violates a constraint")
        missing = self.document(EntityNotFoundError("Note", 7))
        self.assertEqual((missing["status"], missing["detail"]), (404, "no Note with Id 7 for the current tenant"))
        invalid = self.document(ValidationError("Login", []))
        self.assertEqual((invalid["status"], invalid["detail"]), (400, "Login is invalid"))
        self.assertNotIn("errors", invalid)

    def test_other_http_errors_keep_their_status_and_description(self):
        document = self.document(Gone("moved to /api/v2"))
        self.assertEqual((document["status"], document["detail"]), (410, "moved to /api/v2"))

    def test_a_declared_server_error_is_still_generic(self):
        logged = []

        class Logger:
            def error(self, *args, **fields):
                logged.append(fields)

        @error_status(503)
        class Unavailable(Exception):
            pass

        document = self.document(Unavailable("pool exhausted at db:5432"), ProblemMapper({}, False, Logger))
        self.assertEqual(document["status"], 503)
        self.assertNotIn("5432", document["detail"])
        self.assertEqual(logged[0]["reference"], document["reference"])


class ErrorsTest(unittest.TestCase):
    def test_error_status_accepts_only_error_statuses(self):
        with self.assertRaises(ValueError) as raised:
            error_status(200)
        self.assertIn("expected an HTTP error status (400-599), got 200", str(raised.exception))

    def test_declarations_are_inherited_and_configuration_takes_dotted_names(self):
        @error_status(409)
        class Base(Exception):
            pass

        class Child(Base):
            pass

        class Other(Exception):
            pass

        self.assertEqual(declared_status(Child()), 409)
        self.assertIsNone(declared_title(Child()))
        self.assertEqual(declared_status(Other(), {f"{__name__}.{Other.__qualname__}": 418}), 418)
        self.assertIsNone(declared_status(Other()))

    def test_status_accepts_only_success_statuses(self):
        from pdip.api import status

        with self.assertRaises(ValueError) as raised:
            status(404)
        self.assertIn("expected a success status (200-299), got 404", str(raised.exception))

    def test_api_errors_name_their_status_when_they_have_no_detail(self):
        self.assertEqual(str(ApiError(status=502)), "HTTP 502")
        self.assertEqual(ApiError(status=502).status, 502)

    def test_secret_values_are_masked(self):
        self.assertEqual(shown_value("user.password", "x"), "***")
        self.assertEqual(shown_value("lines[0].api_key", "x"), "***")
        self.assertEqual(shown_value("name", "x"), "'x'")


class MarkersTest(unittest.TestCase):
    def test_markers_read_well_and_choose_the_source(self):
        self.assertEqual([repr(FromRoute), repr(FromQuery), repr(FromBody)], ["FromRoute", "FromQuery", "FromBody"])
        self.assertEqual(_split(Annotated[Query, FromQuery]), (Query, QUERY_OBJECT))
        self.assertEqual(_split(Annotated[int, "unrelated"]), (int, None))


class RouteValueTest(unittest.TestCase):
    def test_only_a_single_optional_type_loses_its_none(self):
        from pdip.api.binding import _without_none

        self.assertIs(_without_none(int | None), int)
        self.assertEqual(_without_none(int | str), int | str)
        self.assertIs(_without_none(int), int)


class RunTest(unittest.TestCase):
    def test_run_serves_on_the_configured_host_and_port_unless_told(self):
        from pdip import Pdi
        from tests.support.apps import application

        with application({"{pkg}/__init__.py": ""}) as (root, _):
            with Pdi(root, configurations={"API": {"PORT": 8123, "EXECUTIONS": False}}) as pdi:
                api = pdi.get(pdip.api.ApiApp)
                calls = []
                api.app.run = lambda **options: calls.append(
                    options
                )  # Flask's server itself runs in tests/integrationtests
                api.run()
                api.run("0.0.0.0", 9000, debug=True)
        self.assertEqual(calls[0], {"host": "127.0.0.1", "port": 8123, "debug": False, "threaded": True})
        self.assertEqual(calls[1], {"host": "0.0.0.0", "port": 9000, "debug": True, "threaded": True})


class LazyImportTest(unittest.TestCase):
    def test_an_unknown_name_is_an_attribute_error(self):
        with self.assertRaises(AttributeError):
            pdip.api.NoSuchThing  # noqa: B018

    def test_without_flask_the_error_says_which_extra_to_install(self):
        pdip.api.__dict__.pop("ApiApp", None)
        with mock.patch.dict(sys.modules, {"pdip.api.app": None}), self.assertRaises(ImportError) as raised:
            pdip.api.ApiApp  # noqa: B018
        self.assertIn("pip install 'pdip[api]'", str(raised.exception))
        self.assertIs(pdip.api.ApiApp, importlib.import_module("pdip.api.app").ApiApp)


if __name__ == "__main__":
    unittest.main()
