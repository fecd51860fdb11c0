"""A real API server for integration tests: `pdip api` in a child process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 60.0  # seconds; a cold interpreter importing Flask on a busy machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(root: Path, script: str | None = None, **environment: str) -> Iterator[str]:
    """Serve the application at `root` with `python -m pdip api` (or `python <script> serve`, told its
    port by API_PORT); yield its base URL; stop it after."""
    port = free_port()
    env = {**os.environ, **environment, "PYTHONUNBUFFERED": "1", "API_PORT": str(port), "API_HOST": "127.0.0.1"}
    env.pop("PDIP_ENVIRONMENT", None)
    if script is None:
        command = [sys.executable, "-m", "pdip", "api", "--root", str(root), "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [sys.executable, script, "serve"]
    log = open(root / "server.log", "w+")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_until_answering(base: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"pdip api exited with {process.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(f"{base}/swagger.json", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    log.seek(0)
    raise AssertionError(f"pdip api did not answer within {START_TIMEOUT} s:\n{log.read()}")
