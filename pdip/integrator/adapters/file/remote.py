"""Files behind fsspec URLs (`s3://`, `gcs://`, `abfs://`, `sftp://`, `memory://`, ...).

    source: {kind: parquet, path: "s3://landing/2026/*.parquet", storage_options: {anon: false}}
    target: {kind: csv, path: "s3://exports/orders.csv"}

The formats read and write local files, so a remote file is staged through a local temporary
folder: a source downloads each file just before it reads it (and deletes it after), a target
writes locally and, when the whole integration succeeded, uploads under a temporary name and
moves it into place, so readers of the remote path never see half a file. Listing, globbing and
moving are fsspec's; the protocol's own package (s3fs, gcsfs, adlfs, ...) must be installed.
`storage_options` (credentials, endpoints) are passed to the filesystem and never logged.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pdip.integrator.errors import OperationError

_GLOB = re.compile(r"[*?\[]")


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
    try:
        return url_to_fs(url, **dict(options or {}))
    except (ImportError, ValueError) as error:
        scheme = url.partition("://")[0]
        raise OperationError(f"{label}: path: cannot open {scheme}:// URLs: {error}") from None


def remote_files(url: str, options: Mapping[str, Any] | None, suffixes: tuple[str, ...], label: str) -> list[str]:
    """The remote paths a source reads, sorted: a file, a folder's files with the format's
    suffixes, or what a glob matches; hidden files are skipped."""
    fs, path = filesystem(url, options, label)
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

    def downloaded(self, files: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
        """Each remote file as a local copy, made just before it is read and removed after."""
        for remote, name in files:
            local = self.folder / f"{secrets.token_hex(4)}-{_name(remote)}"
            self.fs.get(remote, str(local))
            try:
                yield local, name
            finally:
                local.unlink(missing_ok=True)

    def local_target(self) -> Path:
        return self.folder / _name(self.path)

    def fetch_existing(self, local: Path) -> bool:
        """Copy the remote target here when it exists (an appending target adds to it)."""
        if not self.fs.exists(self.path):
            return False
        self.fs.get(self.path, str(local))
        return True

    def publish(self, local: Path) -> None:
        """Upload under a temporary name beside the real one, then move it into place."""
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
