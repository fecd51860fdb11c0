"""A MariaDB server of the tests' own, with a row-based binlog, for change capture.

    url = binlog_mariadb_url()      # mysql+pymysql://root@127.0.0.1:<port>/pdip_capture

The shared server on 3306 must not be reconfigured, so the binlog capture tests start their own:
Debian's `mariadb-install-db` and `mariadbd` (PDIP_TEST_MARIADB_BIN names another folder that
holds both), a data folder in a temporary directory, a free port on 127.0.0.1, `log_bin` with
`binlog_format = ROW`, `binlog_row_image = FULL` and `binlog_row_metadata = FULL`; started once
per test process and stopped (its folder removed) when the process exits. As root the server
runs as the `mysql` user. PDIP_TEST_BINLOG_MARIADB_URL names a server of your own instead.
A server that cannot be had skips the test, or under CI=true fails it (`servers.server_missing`).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
import time

import pymysql

from tests.support.kafka_broker import free_port
from tests.support.servers import configured_or_started

ENV_URL = "PDIP_TEST_BINLOG_MARIADB_URL"
ENV_BIN = "PDIP_TEST_MARIADB_BIN"
DATABASE = "pdip_capture"
SETTINGS = (
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
    "--server-id=1",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=32M",
    "--innodb-flush-log-at-trx-commit=2",  # a test server: a crash of the machine may lose it
    "--sync-binlog=0",
)


def binlog_mariadb_url() -> str:
    return configured_or_started(ENV_URL, _started, "MariaDB with a row-based binlog")


def _programs() -> tuple[str, str] | None:
    folder = os.environ.get(ENV_BIN, "").strip()
    install = os.path.join(folder, "mariadb-install-db") if folder else shutil.which("mariadb-install-db")
    server = os.path.join(folder, "mariadbd") if folder else shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
    if not install or not server or not os.path.exists(install) or not os.path.exists(server):
        return None
    return install, server


@functools.cache
def _started() -> tuple[str, str | None]:
    programs = _programs()
    if programs is None:
        return "", "no mariadb-install-db and mariadbd (apt-get install mariadb-server)"
    install, server = programs
    home = tempfile.mkdtemp(prefix="pdip-binlog-mariadb-")
    data, port = os.path.join(home, "data"), free_port()
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if user:
        shutil.chown(home, "mysql")
    try:
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        shutil.rmtree(home, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        return "", f"{error}: {detail.decode(errors='replace').strip()[:300]}"
    process = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={data}",
            *user,
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={home}/socket",
            f"--pid-file={home}/pid",
            f"--log-bin={data}/binlog",
            f"--log-error={home}/error.log",
            *SETTINGS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, process, home)
    problem = _answers(port, process, home)
    if problem:
        return "", problem
    return f"mysql+pymysql://root@127.0.0.1:{port}/{DATABASE}", None


def _answers(port: int, process: subprocess.Popen, home: str) -> str | None:
    """None once the server takes connections (and has the tests' database); else what went wrong."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"mariadbd exited with {process.returncode}: {_log(home)}"
        try:
            connection = pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1)
        except pymysql.err.OperationalError:
            time.sleep(0.1)
            continue
        with connection:
            connection.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        return None
    return f"mariadbd did not answer within 30 s: {_log(home)}"


def _log(home: str) -> str:
    try:
        with open(os.path.join(home, "error.log"), encoding="utf-8", errors="replace") as log:
            return log.read()[-300:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen, home: str) -> None:
    process.kill()
    process.wait(timeout=30)
    shutil.rmtree(home, ignore_errors=True)
