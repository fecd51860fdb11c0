"""Files behind fsspec URLs (`s3://`, `gcs://`, `abfs://`, `sftp://`, `memory://`, ...).

    source: {kind: parquet, path: "s3://landing/2026/*.parquet", storage_options: {anon: false}}
    target: {kind: csv, path: "s3://exports/orders.csv"}

The formats read and write local files, so a remote file is staged through a local temporary
folder: a source downloads each file just before it reads it (and deletes it after), a target
writes locally and, when the whole integration succeeded, uploads it whole. On an object store
(S3, GCS, Azure Blob) an upload is atomic, since an object appears only once all of it has
arrived, so it goes under the real name; elsewhere (SFTP, ...) it goes under a temporary name
and is moved into place. Either way readers of the remote path never see half a file. Listing,
globbing and moving are fsspec's; the protocol's own package (s3fs, gcsfs, adlfs, ...) must be
installed (`pip install 'pdip[s3]'`, `[gcs]`, `[azure]`).

`storage_options` (credentials, endpoints) are passed to the filesystem and never logged: a
failure of the store is told in pdip's words, naming the connection and the setting to look at,
with every value of `storage_options` masked out of the store's own message.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pdip.integrator.errors import OperationError

_GLOB = re.compile(r"[*?\[]")
# Protocols whose upload replaces an object whole or not at all (a multipart upload too appears
# only when completed): a target uploads under the real name, as a copy and delete would move
# every byte twice. fsspec declares no such property, so the protocols are listed here.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"})
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure", "abfss": "azure", "az": "azure"}


def is_remote(path: str | Path) -> bool:
    """A URL with a scheme other than `file://`."""
    scheme, separator, _ = str(path).partition("://")
    return bool(separator) and scheme.lower() != "file"


def filesystem(url: str, options: Mapping[str, Any] | None, label: str) -> tuple[Any, str]:
    """(the fsspec filesystem, the path within it) of `url`."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec comes with the integrator's dependencies
        raise OperationError(f"{label}: path: {url} needs fsspec (pip install fsspec)") from None
    scheme = url.partition("://")[0].lower()
    try:
        return url_to_fs(url, **dict(options or {}))
    except ImportError:
        extra = EXTRAS.get(scheme)
        advice = f"pip install 'pdip[{extra}]'" if extra else "install the fsspec package of that protocol"
        raise OperationError(f"{label}: path: {scheme}:// URLs need a package not installed here: {advice}") from None
    except ValueError as error:
        raise OperationError(f"{label}: path: cannot open {scheme}:// URLs: {error}") from None


@contextlib.contextmanager
def store_errors(url: str, options: Mapping[str, Any] | None, label: str) -> Iterator[None]:
    """What the store raises, as an `OperationError` naming the setting to look at.

    fsspec's backends turn what they understand into `OSError`s (`PermissionError` for refused
    credentials, `FileNotFoundError`) and let their SDK's own errors through otherwise (botocore's
    `NoCredentialsError`, `EndpointConnectionError`): those are told apart by their class names,
    so that no SDK is imported here for its exception classes alone."""
    try:
        yield
    except OperationError:
        raise
    except FileNotFoundError:
        raise OperationError(f"{label}: path: {url} does not exist") from None
    except PermissionError as error:
        raise OperationError(
            f"{label}: storage_options: the store refused access to {url} ({_masked(_said(error), options)}); "
            "check the credentials given in storage_options or the environment"
        ) from None
    except Exception as error:  # noqa: BLE001 - each backend's SDK raises its own classes, told apart below
        name, said = type(error).__name__, _masked(_said(error), options)
        if "Credential" in name:
            raise OperationError(
                f"{label}: storage_options: no credentials for {url} ({said}); give them in storage_options "
                "(key and secret for S3) or the environment"
            ) from None
        if isinstance(error, (ConnectionError, TimeoutError)) or "Connect" in name or "Timeout" in name:
            raise OperationError(
                f"{label}: storage_options: cannot reach the store of {url} ({said}); check its endpoint"
            ) from None
        raise OperationError(f"{label}: path: {url}: the store failed ({name}: {said})") from None


def _said(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _masked(text: str, options: Mapping[str, Any] | None) -> str:
    """`text` without any value of `options` (keys, secrets, tokens; nested ones too)."""
    for value in _values(options):
        if len(value) >= 4:  # shorter ones (`true`, a region's digits) would mask ordinary words
            text = text.replace(value, "***")
    return text


def _values(options: Any) -> Iterator[str]:
    if isinstance(options, Mapping):
        for value in options.values():
            yield from _values(value)
    elif isinstance(options, (list, tuple)):
        for value in options:
            yield from _values(value)
    elif options is not None and not isinstance(options, bool):
        yield str(options)


def remote_files(url: str, options: Mapping[str, Any] | None, suffixes: tuple[str, ...], label: str) -> list[str]:
    """The remote paths a source reads, sorted: a file, a folder's files with the format's
    suffixes, or what a glob matches; hidden files are skipped."""
    fs, path = filesystem(url, options, label)
    with store_errors(url, options, label):
        fs.invalidate_cache()  # fsspec keeps listings: files that arrived since the last run must show
        if _GLOB.search(path):
            found = fs.glob(path)
        elif fs.isdir(path):
            found = [item for item in fs.ls(path, detail=False) if item.lower().endswith(suffixes)]
        elif fs.isfile(path):
            found = [path]
        else:
            raise OperationError(f"{label}: path: {url} does not exist")
        return sorted(item for item in found if not _name(item).startswith(".") and fs.isfile(item))


def name_of(remote: str, url: str, options: Mapping[str, Any] | None, label: str) -> str:
    """What positions and reasons call a remote file: its path below the URL's folder part."""
    _, path = filesystem(url, options, label)
    base = path.split("*")[0].rsplit("/", 1)[0] if _GLOB.search(path) else path
    prefix = base.rstrip("/") + "/"
    return remote[len(prefix) :] if remote.startswith(prefix) else _name(remote)


class Staging:
    """A local temporary folder for one source or target; `close()` removes it."""

    def __init__(self, url: str, options: Mapping[str, Any] | None, label: str):
        self.url, self.options, self.label = url, options, label
        self.fs, self.path = filesystem(url, options, label)
        self.folder = Path(tempfile.mkdtemp(prefix="pdip-staging-"))
        self._kept: dict[str, Path] = {}  # files downloaded before their read (for their types)

    def errors(self) -> contextlib.AbstractContextManager[None]:
        return store_errors(self.url, self.options, self.label)

    def download(self, remote: str) -> Path:
        """A local copy of `remote`, kept until it is read (`downloaded`) or the staging closes."""
        if remote not in self._kept:
            local = self.folder / f"{secrets.token_hex(4)}-{_name(remote)}"
            with self.errors():
                self.fs.get(remote, str(local))
            self._kept[remote] = local
        return self._kept[remote]

    def downloaded(self, files: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
        """Each remote file as a local copy, made just before it is read and removed after."""
        for remote, name in files:
            local = self.download(remote)
            try:
                yield local, name
            finally:
                del self._kept[remote]
                local.unlink(missing_ok=True)

    def local_target(self) -> Path:
        return self.folder / _name(self.path)

    def fetch_existing(self, local: Path) -> bool:
        """Copy the remote target here when it exists (an appending target adds to it)."""
        with self.errors():
            self.fs.invalidate_cache()
            if not self.fs.exists(self.path):
                return False
            self.fs.get(self.path, str(local))
        return True

    def publish(self, local: Path) -> None:
        """Upload whole: under the real name on an object store (atomic there), else under a
        temporary name beside the real one, then moved into place."""
        with self.errors():
            if self.url.partition("://")[0].lower() in OBJECT_STORES:
                self.fs.put_file(str(local), self.path)
                return
            parent, _, name = self.path.rpartition("/")
            temporary = f"{parent}/.{name}.{secrets.token_hex(6)}.pdip-tmp" if parent else f".{name}.pdip-tmp"
            self.fs.put(str(local), temporary)
            try:
                self.fs.mv(temporary, self.path)
            except Exception:
                self.fs.rm(temporary)
                raise

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
