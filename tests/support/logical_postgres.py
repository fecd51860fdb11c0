"""A PostgreSQL server of the tests' own, with `wal_level = logical`, for change capture.

    url = logical_postgres_url()      # postgresql+psycopg://postgres@127.0.0.1:<port>/postgres

The shared server runs with `wal_level = replica` and must not be reconfigured, so the capture
tests start their own: Debian's `initdb` and `pg_ctl` (found under /usr/lib/postgresql/*/bin, or
named by PDIP_TEST_PG_BIN), a data folder in a temporary directory, a free port on 127.0.0.1,
started once per test process and stopped (its folder removed) when the process exits.
`initdb` refuses to run as root, so as root the server runs as the `postgres` user.
PDIP_TEST_LOGICAL_POSTGRES_URL names a server of your own instead (it must have wal_level logical).
A server that cannot be had skips the test, or under CI=true fails it (`servers.server_missing`).
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import shutil
import subprocess
import tempfile

from tests.support.kafka_broker import free_port
from tests.support.servers import configured_or_started

ENV_URL = "PDIP_TEST_LOGICAL_POSTGRES_URL"
ENV_BIN = "PDIP_TEST_PG_BIN"
SETTINGS = (
    "wal_level=logical",
    "max_replication_slots=20",
    "max_wal_senders=20",
    "fsync=off",  # a test server: a crash of the machine may lose it, a killed client never does
    "full_page_writes=off",
    "shared_buffers=64MB",
)


def logical_postgres_url() -> str:
    return configured_or_started(ENV_URL, _started, "PostgreSQL with wal_level=logical")


def _bin() -> str | None:
    configured = os.environ.get(ENV_BIN, "").strip()
    if configured:
        return configured
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


@functools.cache
def _started() -> tuple[str, str | None]:
    folder = _bin()
    if folder is None:
        return "", "no pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    home = tempfile.mkdtemp(prefix="pdip-logical-pg-")
    data, port = os.path.join(home, "data"), free_port()
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(home, "postgres")
    try:
        subprocess.run(
            [*run_as, f"{folder}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = " ".join(f"-c {setting}" for setting in (*SETTINGS, f"port={port}", "listen_addresses=127.0.0.1"))
        options += f" -c unix_socket_directories={home}"
        subprocess.run(
            [*run_as, f"{folder}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(home, "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        shutil.rmtree(home, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        return "", f"{error}: {detail.decode(errors='replace').strip()[:300]}"
    atexit.register(_stop, run_as, folder, data, home)
    if os.environ.get("PDIP_TEST_PG_KEEP_LOG"):
        print("log", home)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", None


def _stop(run_as: list[str], folder: str, data: str, home: str) -> None:
    subprocess.run([*run_as, f"{folder}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
