"""`pdip api`'s servers for real: gunicorn's workers sharing the connections, waitress where
gunicorn cannot run, on loopback."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
from collections import Counter

from tests.integrationtests.api.served import free_port, served
from tests.support.apps import application

HEALTH = {
    "{pkg}/__init__.py": "",
    "{pkg}/health_controller.py": "from pdip.api import ControllerBase\nclass HealthController(ControllerBase):\n    def get(self):\n        return {'status': 'ok'}\n",
}

PROCESS = {
    "{pkg}/__init__.py": "",
    "{pkg}/process_controller.py": "import os\nfrom pdip.api import ControllerBase\nclass ProcessController(ControllerBase):\n    def get(self):\n        return {'pid': os.getpid(), 'arbiter': os.getppid()}\n",
}
CONNECTIONS = 16


@unittest.skipUnless(hasattr(os, "fork"), "gunicorn runs where processes fork")
class GunicornTest(unittest.TestCase):
    def test_keep_alive_connections_opened_at_once_are_shared_evenly_by_the_workers(self):
        with application(PROCESS) as (root, _), served(root, API_WORKERS="2") as base:
            port = int(base.rsplit(":", 1)[1])
            workers = _workers_answering(port, 2)
            first, again = _dealt(port)
        self.assertEqual(first, again)  # a connection stays with its worker
        self.assertEqual(Counter(first), dict.fromkeys(workers, CONNECTIONS // 2))

    def test_after_a_reload_the_new_workers_share_the_connections_evenly(self):
        with application(PROCESS) as (root, _), served(root, API_WORKERS="2") as base:
            port = int(base.rsplit(":", 1)[1])
            old = _workers_answering(port, 2)
            with urllib.request.urlopen(f"{base}/api/Process", timeout=30) as answer:
                arbiter = json.loads(answer.read())["arbiter"]
            os.kill(arbiter, signal.SIGHUP)  # gunicorn starts new workers, then stops the old ones
            new = _workers_answering(port, 2, besides=old)
            first, _ = _dealt(port)
        self.assertEqual(Counter(first), dict.fromkeys(new, CONNECTIONS // 2))

    def test_requests_are_parsed_by_gunicorn_s_c_parser_and_a_malformed_one_is_refused(self):
        with application(HEALTH) as (root, _), served(root, API_WORKERS="1") as base:
            port = int(base.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                client.sendall(b"GET /api/Health HTTP/1.1\r\nHost: x\r\n\r\n")
                answered = client.recv(65536)
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                client.sendall(b"GET /api/Health HTTP/9\r\nHost x\r\n\r\n")
                refused = client.recv(65536)
            log = (root / "server.log").read_text()
        self.assertTrue(answered.startswith(b"HTTP/1.1 200"), answered)
        self.assertTrue(refused.startswith(b"HTTP/1.1 400"), refused)
        self.assertIn("HTTP requests are parsed by gunicorn's C parser (gunicorn_h1c)", log)

    def test_a_port_taken_by_another_program_stops_the_command_naming_it(self):
        with application(PROCESS) as (root, _), socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            address = ["--host", "127.0.0.1", "--port", str(port)]
            command = [sys.executable, "-m", "pdip", "api", "--root", str(root), *address]
            finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
        self.assertEqual(finished.returncode, 2, finished.stderr)
        self.assertIn(f"127.0.0.1:{port} is in use", finished.stderr)


class WaitressTest(unittest.TestCase):
    def test_waitress_serves_the_application_with_its_own_pdi(self):
        port = free_port()
        with application(HEALTH) as (root, _):
            script = (
                "from pdip.api.serving import Serving, _waitress; "
                f"_waitress(Serving({str(root)!r}), '127.0.0.1', {port}, 1, 4)"
            )
            process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                body = _answer(f"http://127.0.0.1:{port}/api/Health", process)
            finally:
                process.send_signal(signal.SIGINT)  # an orderly end: the Pdi is cleaned up, coverage saved
                output = process.communicate(timeout=30)[0].decode()
        self.assertEqual(body, {"status": "ok"}, output)


def _workers_answering(port: int, count: int, besides: frozenset = frozenset()) -> frozenset:
    """The pids of `count` workers (not among `besides`), once each answered on a connection of its
    own; while a worker boots the others answer alone. The probes are closed, and seen closed."""
    probes, pids = [], set()
    deadline = time.monotonic() + 60
    try:
        while len(pids - besides) < count and time.monotonic() < deadline:
            probes.append(_connected(port))
            pids.add(_pid(probes[-1]))
            time.sleep(0.05)
    finally:
        for probe in probes:
            probe.close()
    time.sleep(0.5)
    return frozenset(pids - besides)


def _dealt(port: int) -> tuple[list[int], list[int]]:
    """The worker answering each of CONNECTIONS connections opened at once, asked twice."""
    connections = [_connected(port) for _ in range(CONNECTIONS)]  # all open before any request
    try:
        return [_pid(connection) for connection in connections], [_pid(connection) for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def _connected(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    return connection


def _pid(connection: http.client.HTTPConnection) -> int:
    """The pid of the worker answering on this connection."""
    connection.request("GET", "/api/Process")
    return json.loads(connection.getresponse().read())["pid"]


def _answer(url: str, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise AssertionError(f"waitress did not answer at {url}")


if __name__ == "__main__":
    unittest.main()
