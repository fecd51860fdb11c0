"""`pdip api`: serve an application's API, or say why it cannot."""

import contextlib
import io
import os
import sys
import unittest
from pathlib import Path
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
    def test_dev_serves_with_flasks_reloader_on_the_given_address(self):
        served = []
        with (
            application(HEALTH) as (root, _),
            mock.patch.object(
                ApiApp, "run", lambda self, host, port, **options: served.append((self, host, port, options))
            ),
        ):
            code, _, _ = run("api", "--root", str(root), "--host", "0.0.0.0", "--port", "8765", "--dev")
        self.assertEqual(code, 0)
        api, host, port, options = served[0]
        self.assertEqual((host, port, options), ("0.0.0.0", 8765, {"use_reloader": True}))
        self.assertIn(("GET", "/api/Health", "Health.get"), api.routes)

    def test_workers_and_threads_must_be_at_least_one(self):
        for option in ("--workers", "--threads"):
            for value in ("0", "many"):
                with self.subTest(option=option, value=value), self.assertRaises(SystemExit) as exited:
                    run("api", option, value)
                self.assertEqual(exited.exception.code, 2)
        from pdip.cli import _parser

        parsed = _parser().parse_args(["api", "--workers", "3", "--threads", "4"])
        self.assertEqual((parsed.workers, parsed.threads, parsed.dev), (3, 4, False))

    def test_a_production_server_is_chosen_and_each_worker_builds_its_own_application(self):
        from pdip.api import serving

        self.assertIs(serving.production_server(), serving._gunicorn)
        with application(HEALTH) as (root, _):
            api = serving.build_application(serving.Serving(str(root)))
            self.assertEqual(api.test_client().get("/api/Health").get_json(), "ok")
            worker = type("Worker", (), {"wsgi": api})()
            self.assertIn(str(root), sys.path)
            serving._close_worker(None, worker)
            self.assertNotIn(str(root), sys.path)  # the worker's Pdi is cleaned up
            serving._close_worker(None, object())  # a worker that never loaded its application

    def test_the_c_http_parser_serves_when_a_version_enforcing_gunicorn_s_limits_is_installed(self):
        import types

        from pdip.api import serving

        self.assertTrue(serving.c_http_parser())  # the api-fast extra, in `all`
        with mock.patch.dict(sys.modules, {"gunicorn_h1c": None}):  # not installed
            self.assertFalse(serving.c_http_parser())
        with mock.patch.dict(sys.modules, {"gunicorn_h1c": types.ModuleType("gunicorn_h1c")}):  # before 0.4.1
            self.assertFalse(serving.c_http_parser())
        said = []
        server = type("Server", (), {"log": type("Log", (), {"warning": lambda _, text: said.append(text)})()})()
        serving._says_python_parser(server)
        self.assertIn("pip install 'pdip[api-fast]'", said[0])

    def test_a_worker_opens_its_database_connections_and_freezes_its_heap_before_serving(self):
        import gc

        from pdip.data import DatabaseSessionManager

        files = {**HEALTH, "application.yml": "DATABASE:\n  TYPE: sqlite\n  DATABASE: app.db\n"}
        with application(files) as (root, _):
            api = self._warmed_worker(root, threads=3)
            pool = api.pdi.get(DatabaseSessionManager).engine.pool
            self.assertEqual(pool.checkedin(), 3)  # one connection a thread, open and back in the pool
            self.assertGreater(gc.get_freeze_count(), 0)  # the collector no longer walks what was built
            self.assertEqual(api.test_client().get("/api/Health").get_json(), "ok")

    def test_a_worker_without_a_database_warms_what_it_has(self):
        with application(HEALTH) as (root, _):
            api = self._warmed_worker(root, threads=3)
            self.assertFalse(api.app.url_map._remap)  # the routes are compiled before the first request
            self.assertEqual(api.test_client().get("/api/Health").get_json(), "ok")

    def test_a_worker_whose_database_is_down_still_starts_and_says_so_without_the_password(self):
        files = {
            **HEALTH,
            "application.yml": "DATABASE:\n  TYPE: postgresql\n  HOST: 127.0.0.1\n  PORT: 1\n"
            "  DATABASE: app\n  USER: app\n  PASSWORD: s3cret-pw\n",
        }
        with application(files) as (root, _), self.assertLogs("pdip.api", "WARNING") as logs:
            api = self._warmed_worker(root, threads=2)
            self.assertEqual(api.test_client().get("/api/Health").get_json(), "ok")
        self.assertIn("its first requests will try again", logs.output[0])
        self.assertIn("127.0.0.1", logs.output[0])
        self.assertNotIn("s3cret-pw", "".join(logs.output))

    def _warmed_worker(self, root, threads: int) -> ApiApp:
        """A worker's application after gunicorn's post_worker_init hook ran."""
        import gc

        from pdip.api import serving

        api = serving.build_application(serving.Serving(str(root)))
        self.addCleanup(api.pdi.cleanup)
        self.addCleanup(gc.unfreeze)
        logged = []
        log = type("Log", (), {"info": lambda _, *message: logged.append(message)})()
        worker = type("Worker", (), {"wsgi": api, "cfg": type("Config", (), {"threads": threads})(), "log": log})()
        worker.pid = 4321
        serving._warm_worker(worker)
        self.assertEqual(logged, [("Worker ready: %s", 4321)])  # what a client can wait for
        return api

    def test_a_free_port_is_claimed_on_ipv4_and_ipv6_and_a_taken_one_is_named(self):
        import socket

        from pdip.api import serving
        from pdip.api.errors import ServingError

        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "[::1]")):
            with self.subTest(host=host):
                with socket.socket(family) as probe:
                    probe.bind((host.strip("[]"), 0))
                    port = probe.getsockname()[1]
                serving.claim_port(host, port)  # free: bound and let go
                with socket.create_server((host.strip("[]"), port), family=family):
                    with self.assertRaises(ServingError) as refused:
                        serving.claim_port(host, port)
                self.assertIn(f"{host}:{port} is in use", str(refused.exception))

    def test_gunicorn_workers_count_metrics_into_one_folder_made_for_the_serving(self):
        from pdip.api import serving

        variable = serving.MULTIPROCESS_VARIABLE
        with mock.patch.dict(os.environ):
            os.environ.pop(variable, None)
            with serving._shared_metrics(True):
                folder = Path(os.environ[variable])
                self.assertTrue(folder.is_dir())
            self.assertNotIn(variable, os.environ)
            self.assertFalse(folder.exists())
            with serving._shared_metrics(False):
                self.assertNotIn(variable, os.environ)  # --dev, waitress: one process
            os.environ[variable] = str(folder)
            with serving._shared_metrics(True):
                self.assertEqual(os.environ[variable], str(folder))  # the one given is used as it is
            self.assertEqual(os.environ[variable], str(folder))

    def test_waitress_serves_where_gunicorn_cannot_and_neither_is_an_exit_2(self):
        import importlib.util

        from pdip.api import serving

        real = importlib.util.find_spec

        def without(*names):
            return lambda name, *rest: None if name in names else real(name, *rest)

        with mock.patch.object(importlib.util, "find_spec", without("fcntl")):
            self.assertIs(serving.production_server(), serving._waitress)
        with (
            application(HEALTH) as (root, _),
            mock.patch.object(importlib.util, "find_spec", without("gunicorn", "waitress")),
        ):
            code, _, err = run("api", "--root", str(root))
        self.assertEqual(code, 2)
        self.assertIn("pdip api: pdip api serves with gunicorn (or waitress where gunicorn cannot run)", err)

    def test_a_worker_whose_application_does_not_build_closes_its_pdi(self):
        from pdip.api import serving
        from pdip.dependency import PdiConfigurationError

        files = {**HEALTH, "application.yml": "API:\n  MAX_PAGE_SIZE: 0\n"}
        with application(files) as (root, _), self.assertRaises(PdiConfigurationError):
            serving.build_application(serving.Serving(str(root)))

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
