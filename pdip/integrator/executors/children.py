"""Child processes (readers, appliers) and the one pipe each has to the process that started it.

Why a pipe per child, and not one queue for all (docs/adr/0012): a child killed while it writes a
message can only leave a half-written message on its *own* pipe, where the parent reads it as
the end of that pipe and names the child and its signal; no lock or buffer is shared between
children, so one dying child cannot stall the others or the parent. Messages are framed
(`multiprocessing.connection.Connection`: a length, then the pickled message), and the parent
waits on all pipes and process sentinels at once, so no read blocks on a child that is gone.

What a child does first, before anything else (`_begin`):
- it dies with its parent (Linux: `PR_SET_PDEATHSIG`), so a killed writer never leaves readers
  behind; a parent gone before that point is noticed by its process id;
- it closes the pipe ends it inherited that are not its own, so a pipe's far end closes when
  its owner dies (a child blocked writing to a dead parent gets EPIPE at once);
- it forgets every database connection it inherited (`forget_inherited_connections`): their
  sockets are closed in the child without a word to the server, so the parent's sessions stay
  the parent's, and end when the parent ends (no "idle in transaction" left by a killed writer).

A message holding large buffers (an Arrow batch's columns) is sent with `send_large`: it is
pickled without them, and they follow it down the pipe as raw bytes, written from where they are
and read straight into buffers of their own size. Pickled into the message, each would be copied
four times (into the pickle, out of the pipe a chunk at a time, joined, unpickled); a reader's
hundred megabytes a second then cost the writer more than writing them.

Children are started with `fork` where the platform has it, so the user's script needs no
`if __name__ == "__main__":` guard (a `spawn` start would import the script again in the child);
elsewhere the error says exactly what to add.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import pickle
import signal
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from pdip.integrator.errors import IntegrationFailedError

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    import multiprocessing.process
    from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1
_JOIN_SECONDS = 5.0
LARGE = 64 * 1024  # bytes from which a buffer of a message sent with `send_large` follows it raw

# Every DBAPI connection SQLAlchemy opens in this process, so a forked child can forget them.
_OPENED: weakref.WeakSet = weakref.WeakSet()


@sa.event.listens_for(sa.engine.Engine, "connect")
def _remember(dbapi_connection: Any, _: Any) -> None:
    with contextlib.suppress(TypeError):  # a driver whose connections take no weak reference
        _OPENED.add(dbapi_connection)


def forget_inherited_connections() -> int:
    """Cut, in this (forked) process only, the sockets of the database connections inherited
    from the parent, without the goodbye a normal close sends (that would end the parent's
    session). Each socket's descriptor is pointed at /dev/null rather than closed, so its number
    is never reused under an object that still holds it. Returns how many were cut. SQLite
    connections are files, left alone."""
    cut = 0
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for connection in list(_OPENED):
            descriptor = _socket_of(connection)
            if descriptor is not None:
                os.dup2(devnull, descriptor)
                cut += 1
    finally:
        os.close(devnull)
    _OPENED.clear()
    return cut


def _socket_of(connection: Any) -> int | None:
    """The socket's descriptor of a network DBAPI connection (psycopg 3, PyMySQL), else None.
    psycopg's libpq never says goodbye from a process that did not open the connection."""
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is not None:
        try:
            descriptor = pgconn.socket
        except Exception:  # noqa: BLE001 - a connection already closed has no socket
            return None
        return descriptor if descriptor >= 0 else None
    sock = getattr(connection, "_sock", None)  # PyMySQL keeps its socket here; no public accessor
    if sock is not None and sock.fileno() >= 0:
        return sock.fileno()
    return None


@dataclasses.dataclass
class Child:
    """A started child process and the parent's end of its pipe."""

    integration: str
    name: str  # what it is, for errors: "reader 2 of 3"
    process: multiprocessing.process.BaseProcess
    channel: Connection
    finished: bool = False  # it said its last word

    def send(self, message: Any) -> bool:
        """Send `message`; False when the child is gone."""
        return tell(self.channel, message)

    def death(self) -> str:
        """Why the child is gone without its last word, for the integration's error."""
        self.process.join(timeout=_JOIN_SECONDS)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"the {self.name} was killed (signal {-code}, {signal.Signals(-code).name}) before it finished"
        return f"the {self.name} exited with code {code} before it finished"


def start_children(integration: str, work: list[tuple[str, Callable[..., None], tuple]]) -> list[Child]:
    """Start a child per `(name, function, args)` for `integration`; each runs
    `function(channel, *args)`."""
    start = start_method()
    children: list[Child] = []
    parent = os.getpid()
    try:
        for name, function, args in work:
            ours, theirs = start.Pipe(duplex=True)
            inherited = [child.channel for child in children] + [ours]
            process = start.Process(
                target=_begin,
                args=(function, theirs, inherited, parent, args),
                name=f"pdip {integration}: {name}",
                daemon=True,
            )
            try:
                process.start()
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()  # the child's end lives in the child alone
            children.append(Child(integration, name, process, ours))
    except BaseException:
        stop_children(children)
        raise
    return children


def _begin(function: Callable[..., None], channel: Connection, inherited: list[Connection], parent: int, args: tuple):
    """The first steps of every child (see the module's docstring), then its work."""
    die_with_parent(parent)
    for end in inherited:
        end.close()
    forget_inherited_connections()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the children
    gc.freeze()  # what the fork inherited is never garbage here: the collector stops walking it
    try:
        function(channel, *args)
    finally:
        channel.close()


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit(1)  # the parent is gone already


def messages(children: list[Child]) -> Iterator[tuple[Child, Any]]:
    """`(child, message)` as they arrive, until every child has said its last word (the caller
    marks `finished`). A child gone without it fails the run, naming the child and its signal."""
    from multiprocessing.connection import wait

    while True:
        running = [child for child in children if not child.finished]
        if not running:
            return
        by_channel = {child.channel: child for child in running}
        by_sentinel = {child.process.sentinel: child for child in running}
        ready = wait([*by_channel, *by_sentinel])
        for item in ready:
            child = by_channel.get(item)
            if child is None:  # a process ended: a message it left on its pipe comes first
                child = by_sentinel[item]
                if child.finished or child.channel.poll():
                    continue
                raise IntegrationFailedError(child.integration, child.death())
            try:
                message = child.channel.recv()
                if isinstance(message, Parcel):
                    message = message.opened(child.channel)
            except (EOFError, OSError):  # the pipe's end: the child died, perhaps mid-message
                raise IntegrationFailedError(child.integration, child.death()) from None
            yield child, message
            if child.finished:
                break  # the list of running children changed


@dataclasses.dataclass(frozen=True)
class Parcel:
    """A message pickled without its large buffers, which follow it down the pipe, raw."""

    head: bytes
    sizes: tuple[int, ...]  # of the buffers that follow, in order

    def opened(self, channel: Connection) -> Any:
        """The message, its buffers read from `channel` into memory of their own (Arrow's,
        aligned as Arrow wants it), which the unpickled message then uses without a copy."""
        import pyarrow

        return pickle.loads(
            self.head, buffers=[_read_into(channel, pyarrow.allocate_buffer(size)) for size in self.sizes]
        )


def send_large(channel: Connection, message: Any) -> None:
    """Send `message` with its buffers of `LARGE` bytes or more (an Arrow batch's columns)
    written raw after it (see the module's docstring); `messages` gives it back whole."""
    large: list[pickle.PickleBuffer] = []

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < LARGE:
            return True
        large.append(buffer)
        return False

    head = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL, buffer_callback=in_band)
    if not large:
        channel.send_bytes(head)
        return
    views = [buffer.raw() for buffer in large]
    channel.send(Parcel(head, tuple(view.nbytes for view in views)))
    for view in views:
        _written(channel, view)


def _written(channel: Connection, view: memoryview) -> None:
    """All of `view` written down `channel`."""
    while view.nbytes:
        view = view[os.write(channel.fileno(), view) :]


def _read_into(channel: Connection, buffer: Any) -> Any:
    """`buffer` filled from `channel`; a pipe that ends first (its child died) is EOFError."""
    view, got = memoryview(buffer), 0
    while got < view.nbytes:
        count = os.readv(channel.fileno(), [view[got:]])
        if not count:
            raise EOFError("the pipe ended inside a message")
        got += count
    return buffer


def stop_children(children: list[Child], goodbye: Any = None, patience: float = _JOIN_SECONDS) -> None:
    """Say `goodbye` to the children that finished (they close their sources then), end the
    others at once, and wait for all of them, `patience` seconds before killing one that does
    not end; nothing is left running."""
    for child in children:
        if child.finished and goodbye is not None:
            child.send(goodbye)
        elif not child.finished and child.process.is_alive():
            child.process.terminate()
    for child in children:
        child.process.join(timeout=patience)
        if child.process.is_alive():
            child.process.kill()
            child.process.join(timeout=patience)
        child.channel.close()


def tell(channel: Connection, message: Any) -> bool:
    """Send `message` down `channel`; False when the process at its other end is gone."""
    try:
        channel.send(message)
    except OSError:
        return False
    return True


def start_method() -> Any:
    """The multiprocessing context child processes are started with: fork (imported here: a run
    that starts no child process does not import multiprocessing)."""
    import multiprocessing

    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    raise IntegrationFailedError(  # pragma: no cover - only on platforms without fork
        "process executor",
        "this platform cannot fork: put the code that calls integrate() under "
        '`if __name__ == "__main__":` and use executor: process, or use executor: inline',
    )
