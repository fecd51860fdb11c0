"""Running the examples in README.md and docs/*.md, so that every one of them keeps working.

A document is read top to bottom, as a reader would:

- a fenced block whose first line is `# some/path.ext` is a file of the example application
  and is written to that path (a later block with the same path replaces it);
- a `python` block that names a top-level script (`# app.py`) is written and then run;
- a `python` block with no file name is run as a script of its own;
- blocks in other languages (`bash`, `text`, ...) without a file name are left alone.

Scripts run in a fresh interpreter in the example's folder and must exit 0; they check their
own results with `assert`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(?P<language>[\w+-]*)[^\n]*\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)
_FILE_NAME = re.compile(r"^#\s*(?P<path>[\w./-]+\.(?:py|ya?ml|json|csv|toml|txt))\b")


@dataclass
class Block:
    language: str
    body: str
    line: int
    path: str | None

    @property
    def is_script(self) -> bool:
        return self.language == "python" and (self.path is None or "/" not in self.path)


@dataclass
class Run:
    block: Block
    returncode: int
    stdout: str
    stderr: str


def blocks(document: Path) -> list[Block]:
    text = document.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        body = match.group("body")
        first = body.splitlines()[0] if body.strip() else ""
        named = _FILE_NAME.match(first)
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(match.group("language"), body, line, named.group("path") if named else None))
    return found


def run_examples(document: Path, folder: Path, timeout: float = 120) -> list[Run]:
    """Write and run the document's blocks in `folder`; stop at the first script that fails."""
    runs = []
    for number, block in enumerate(blocks(document)):
        if block.path is not None:
            target = folder / block.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body, encoding="utf-8")
        if not block.is_script:
            continue
        script = block.path or f"example_{number}.py"
        if block.path is None:
            (folder / script).write_text(block.body, encoding="utf-8")
        result = subprocess.run([sys.executable, script], cwd=folder, capture_output=True, text=True, timeout=timeout)
        runs.append(Run(block, result.returncode, result.stdout, result.stderr))
        if result.returncode != 0:
            break
    return runs
