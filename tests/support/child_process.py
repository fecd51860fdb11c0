"""A server the tests run as a child process: its output in a log, tied to this process, ended for sure.

    child = ChildProcess()
    child.launch([binary, "--port", "1234"], environment={"AWS_ENDPOINT": ...})
    child.poll(); child.log_tail()      # while waiting for it to answer
    child.end(kill=True)                # SIGKILL (or SIGTERM, then SIGKILL after STOP_TIMEOUT)
    child.close()                       # ended, and its log closed

The tansu broker and the moto S3 server are both run this way (tests/support/kafka_broker.py,
tests/support/object_store.py). Unless `detached`, the child gets SIGTERM when this process dies
(Linux), so a test run killed outright leaves no server behind.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import IO

STOP_TIMEOUT = 5.0
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def death_signal_setter():
    """A callable for preexec_fn that makes the child get SIGTERM when this process dies; Linux only.

    libc is loaded here, in the parent, so the forked child only makes one plain C call.
    """
    PR_SET_PDEATHSIG = 1
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """One child process at a time (a restart launches the next), with one log for all of them."""

    def __init__(self, log_path: str | None = None, detached: bool = False):
        # detached: the child gets its own session and outlives this process (the broker CLI uses it).
        self._log_path = log_path
        self._detached = detached
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def launch(self, command: Sequence[str], environment: Mapping[str, str] | None = None) -> None:
        """Start `command` (OSError when it cannot run); its output goes to the log."""
        if self._log is None:  # open for the children's whole life, restarts included; closed by close()
            self._log = open(self._log_path, "a+b") if self._log_path else tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                list(command),
                env={**os.environ, **environment} if environment else None,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=self._detached,
                preexec_fn=death_signal_setter() if self._tied_to_this_process() else None,
            )
        except OSError:
            self.close()
            raise

    def poll(self) -> int | None:
        """The exit status once the child has ended (None while it runs)."""
        return self.process.poll() if self.process is not None else -1

    def end(self, kill: bool = False) -> None:
        """End the child: SIGKILL, or SIGTERM and SIGKILL if it has not gone within STOP_TIMEOUT."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            if kill:
                process.kill()
            else:
                process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def close(self) -> None:
        self.end()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, size: int = 600) -> str:
        """The end of the log on one line (colour codes removed), for error messages."""
        if self._log is None:
            return "(no log)"
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - size))
        text = _ANSI_ESCAPE.sub("", self._log.read().decode("utf-8", "replace")).strip()
        return text.replace("\n", " | ") or "(no output)"

    def _tied_to_this_process(self) -> bool:
        # The kernel's death signal follows the starting *thread*, so only the main thread may use it.
        return not self._detached and sys.platform == "linux" and threading.current_thread() is threading.main_thread()
