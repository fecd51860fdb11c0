"""`pdip api`'s servers for real: waitress where gunicorn cannot run, on loopback."""

import json
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

from tests.integrationtests.api.served import free_port
from tests.support.apps import application

HEALTH = {
    "{pkg}/__init__.py": "",
    "{pkg}/health_controller.py": "from pdip.api import ControllerBase\nclass HealthController(ControllerBase):\n    def get(self):\n        return {'status': 'ok'}\n",
}


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
