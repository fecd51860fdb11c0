"""Writing policy files for tests."""

import tempfile
import textwrap
import unittest
from pathlib import Path

SALT = "test-salt"


class PolicyFilesTestCase(unittest.TestCase):
    """A temporary folder per test, and `write(name, text)` to put a policy file in it."""

    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = Path(self._folder.name)

    def tearDown(self):
        self._folder.cleanup()

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
