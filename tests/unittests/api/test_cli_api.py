"""`pdip api`: serve an application's API, or say why it cannot."""

import contextlib
import io
import unittest
from unittest import mock

from pdip.api.app import ApiApp
from pdip.cli import main
from tests.support.apps import application

HEALTH = {
    "{pkg}/__init__.py": "",
    "{pkg}/health_controller.py": "from pdip.api import ControllerBase\nclass HealthController(ControllerBase):\n    def get(self):\n        return 'ok'\n",
}


def run(*arguments):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(arguments))
    return code, out.getvalue(), err.getvalue()


class ApiCommandTest(unittest.TestCase):
    def test_it_serves_the_applications_api_on_the_given_address(self):
        served = []
        with (
            application(HEALTH) as (root, _),
            mock.patch.object(ApiApp, "run", lambda self, host, port: served.append((self, host, port))),
        ):
            code, _, _ = run("api", "--root", str(root), "--host", "0.0.0.0", "--port", "8765")
        self.assertEqual(code, 0)
        api, host, port = served[0]
        self.assertEqual((host, port), ("0.0.0.0", 8765))
        self.assertIn(("GET", "/api/Health", "Health.get"), api.routes)

    def test_an_application_that_cannot_be_wired_exits_2_saying_why(self):
        files = {**HEALTH, "application.yml": "API:\n  AUTHENTICATION: api_key\n"}
        with application(files) as (root, _):
            code, _, err = run("api", "--root", str(root))
        self.assertEqual(code, 2)
        self.assertIn("pdip api: API.AUTHENTICATION is api_key but API.KEYS is empty", err)

    def test_a_root_that_is_not_a_folder_exits_2(self):
        code, _, err = run("api", "--root", "/no/such/folder")
        self.assertEqual(code, 2)
        self.assertIn("is not a folder", err)


if __name__ == "__main__":
    unittest.main()
