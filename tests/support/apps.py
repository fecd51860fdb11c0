"""Throw-away applications on disk, for tests that exercise discovery and configuration.

Each application gets a unique top-level package name, so modules of one test never collide
with another's in `sys.modules`; leaving the block forgets the modules and the folder.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def application(files: Mapping[str, str]) -> Iterator[tuple[Path, str]]:
    """Write `files` (relative path -> source) under a new folder; yield (root, package name).

    `{pkg}` in paths and sources is replaced by the application's unique package name, so a
    test writes `{pkg}/services.py` and imports `from {pkg}.services import ...`."""
    package = f"app_{uuid.uuid4().hex[:10]}"
    root = Path(tempfile.mkdtemp(prefix="pdip-test-")).resolve()
    try:
        for relative, source in files.items():
            path = root / relative.replace("{pkg}", package)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source).replace("{pkg}", package), encoding="utf-8")
        yield root, package
    finally:
        for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            del sys.modules[name]
        for entry in [entry for entry in sys.path if entry == str(root)]:
            sys.path.remove(entry)
        shutil.rmtree(root, ignore_errors=True)
