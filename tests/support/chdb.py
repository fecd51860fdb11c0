"""The one chDB folder of a test process, and one client on it.

chDB runs one embedded server per process, on the first folder it opens: a second folder is
refused. So every test that uses chDB in a process shares this folder (each test's tables are its
own) and this client.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

FOLDER = os.path.join(tempfile.gettempdir(), f"pdip-chdb-{os.getpid()}")
_client: Any = None


def chdb_client() -> Any:
    global _client
    if _client is None:
        import clickhouse_connect

        _client = clickhouse_connect.get_client(dsn=f"chdb://{FOLDER}")
    return _client
