"""A throw-away S3 server (moto) on a loopback port: for a tansu broker with durable storage, and
for the tests of files, tables and data stores at s3:// URLs.

    with ObjectStore() as store:                 # moto_server started, bucket "tansu" made
        KafkaBroker(storage=store.storage("tansu")).start()

    SERVER = started_or_missing("pdip-files", "files at s3:// URLs")   # in setUpModule
    Connection("csv", {"path": "s3://pdip-files/a.csv", "storage_options": SERVER.fsspec_options()})

tansu keeps its topics in memory unless given a storage engine; the s3:// engine is the one
compiled into the tansu the tests use, so an S3 server is what lets a broker restart keep its
messages and its consumer groups' offsets. moto_server comes with `moto[server]` (the dev extra).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import servers
from tests.support.child_process import ChildProcess
from tests.support.kafka_broker import HOST, Storage, free_port

START_TIMEOUT = 30.0  # moto imports a great deal before it listens: a few seconds on a small machine
DEFAULT_BUCKET = "tansu"
KEY = SECRET = "pdip-test"  # moto takes any credentials (unless it checks them: see ObjectStore)
REGION = "us-east-1"


class ObjectStoreError(RuntimeError):
    pass


def fsspec_options(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """The `storage_options` of an s3:// path read through fsspec (s3fs) at `endpoint`."""
    return {
        "endpoint_url": endpoint,
        "key": KEY,
        "secret": SECRET,
        "client_kwargs": {"region_name": REGION},
        **overrides,
    }


def delta_options(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """The `storage_options` of a Delta table at an s3:// path (deltalake's own S3 client's names)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
        **overrides,
    }


def started_or_missing(bucket: str, purpose: str, checks_credentials: bool = False) -> ObjectStore:
    """A started server with `bucket`, or the missing server reported (`servers.server_missing`:
    a failure under CI, a skip elsewhere) as needed for `purpose`."""
    try:
        return ObjectStore(bucket=bucket, checks_credentials=checks_credentials).start()
    except ObjectStoreError as error:
        servers.server_missing(f"S3 (moto_server) for {purpose}: {error}")


def find_moto_server() -> str:
    """moto_server next to this Python first (the project's venv), then PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    on_path = shutil.which("moto_server")
    if on_path:
        return on_path
    raise ObjectStoreError(
        "cannot find moto_server, the local S3 server: pip install 'moto[server]' (in the dev extra) "
        "or put moto_server on PATH"
    )


class ObjectStore:
    """One moto S3 server on a free loopback port, tied to this process, with one bucket."""

    def __init__(self, bucket: str = DEFAULT_BUCKET, binary: str | None = None, checks_credentials: bool = False):
        self.bucket = bucket
        self._binary = binary
        # moto takes any credentials unless told to check them against its (empty) IAM: then every
        # S3 request is refused as signed with an unknown key, which is what a wrong key meets.
        self._checks_credentials = checks_credentials
        self._child = ChildProcess()
        self._port: int | None = None

    @property
    def endpoint(self) -> str:
        if self._port is None:
            raise ObjectStoreError("the object store is not started")
        return f"http://{HOST}:{self._port}"

    def environment(self) -> dict[str, str]:
        """What an S3 client (tansu's) needs to use this server: moto takes any credentials."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": REGION,
        }

    def fsspec_options(self, **overrides: Any) -> dict[str, Any]:
        return fsspec_options(self.endpoint, **overrides)

    def delta_options(self, **overrides: Any) -> dict[str, Any]:
        return delta_options(self.endpoint, **overrides)

    def filesystem(self) -> Any:
        """An s3fs filesystem of this server, not shared with other tests through s3fs's cache."""
        import s3fs

        return s3fs.S3FileSystem(**self.fsspec_options(), skip_instance_cache=True)

    def storage(self, prefix: str = "") -> Storage:
        """A broker's storage in this server's bucket (under `prefix/`, so brokers can share it)."""
        path = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return Storage(f"s3://{self.bucket}/{path}", self.environment())

    def start(self, timeout: float = START_TIMEOUT) -> ObjectStore:
        if self._child.process is not None:
            return self
        binary = self._binary or find_moto_server()
        port = free_port()
        try:
            environment = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if self._checks_credentials else None
            self._child.launch([binary, "-H", HOST, "-p", str(port)], environment)
        except OSError as error:
            raise ObjectStoreError(f"cannot run {binary}: {error}") from error
        try:
            self._wait_until_ready(port, time.monotonic() + timeout)
            self._port = port
            if not self._checks_credentials:
                self._create_bucket()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._child.close()
        self._port = None

    def __enter__(self) -> ObjectStore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_ready(self, port: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                raise ObjectStoreError(f"moto_server exited with status {self._child.poll()}: {self._child.log_tail()}")
            if self._answers(f"http://{HOST}:{port}/moto-api/"):  # moto's own page: never asks for credentials
                return
            time.sleep(0.05)
        raise ObjectStoreError(f"moto_server did not answer within {START_TIMEOUT:.0f}s: {self._child.log_tail()}")

    def _answers(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _create_bucket(self) -> None:
        # moto accepts unsigned requests, so a plain PUT makes the bucket: no boto3 needed here.
        request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status != 200:
                    raise ObjectStoreError(f"cannot create bucket {self.bucket!r}: HTTP {response.status}")
        except urllib.error.URLError as error:
            raise ObjectStoreError(f"cannot create bucket {self.bucket!r}: {error}") from error
