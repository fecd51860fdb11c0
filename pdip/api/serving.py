"""`pdip api`: serve an application's REST API with a production WSGI server.

gunicorn by default: `API.WORKERS` processes (`--workers`), each with `API.THREADS` threads
(the `gthread` worker, so a Server-Sent Events stream holds one thread, not a process). Each
worker builds its own `Pdi` after the fork, so no database connection or thread pool crosses a
fork; the application is built once in the parent first, so a configuration error stops the
command (exit 2) before any worker starts. Where gunicorn cannot run (Windows: no `fork`),
waitress serves the same application in one process with `THREADS` threads. `--dev` keeps
Flask's development server with its reloader.

The workers share one listening socket and take turns at it so that each holds an even share of
the connections (`pdip.api.balancing`): left to themselves, the worker that woke first took a
client's keep-alive connections opened at once, and sockets of their own (`SO_REUSEPORT`) left
the split to a hash. The port is checked free first, so a port in use stops the command at once
and by name (exit 2) instead of after gunicorn's retries.

gunicorn parses requests with its C parser (gunicorn_h1c, the `api-fast` extra, in `all`) when
it is installed: on examples/crud_api's GET of one note it took the workers' CPU per request from
1.35 to 1.12-1.20 ms. Without it gunicorn parses in Python, and the server says so when it starts.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pdip.api.errors import ServingError

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode reads it


@dataclass(frozen=True)
class Serving:
    """Where and how to serve: what `pdip api` was told, over the `API` section."""

    root: str
    environment: str | None = None
    host: str | None = None
    port: int | None = None
    workers: int | None = None
    threads: int | None = None
    dev: bool = False


def serve(serving: Serving) -> None:
    """Serve until interrupted. Raises PdiConfigurationError for an application that does not
    build, ServingError when no production server is installed."""
    from pdip.api.app import ApiApp
    from pdip.base import Pdi

    with _shared_metrics(not serving.dev and _gunicorn_runs()):
        with Pdi(serving.root, environment=serving.environment) as pdi:
            api = pdi.get(ApiApp)  # the whole application is checked here, before any worker
            config = api.config
            host, port = serving.host or config.host, serving.port or config.port
            workers, threads = serving.workers or config.workers, serving.threads or config.threads
            if serving.dev:
                api.run(host, port, use_reloader=True)
                return
        server = production_server()
        server(serving, host, port, workers, threads)


@contextlib.contextmanager
def _shared_metrics(wanted: bool) -> Iterator[None]:
    """gunicorn's workers count `/metrics` into one folder (prometheus-client's multiprocess mode),
    so any worker answers for all. It must be set before prometheus-client is first imported; a
    `PROMETHEUS_MULTIPROC_DIR` already set is used as it is, a folder made here is removed after."""
    if not wanted or os.environ.get(MULTIPROCESS_VARIABLE):
        yield
        return
    folder = tempfile.mkdtemp(prefix="pdip-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        shutil.rmtree(folder, ignore_errors=True)


def _gunicorn_runs() -> bool:
    return importlib.util.find_spec("gunicorn") is not None and importlib.util.find_spec("fcntl") is not None


def production_server() -> Callable[..., None]:
    """gunicorn where it runs, else waitress; ServingError naming what to install."""
    if _gunicorn_runs():
        return _gunicorn
    if importlib.util.find_spec("waitress") is not None:
        return _waitress
    raise ServingError(
        "pdip api serves with gunicorn (or waitress where gunicorn cannot run), and neither is installed: "
        "pip install 'pdip[api]', or serve with Flask's development server: pdip api --dev"
    )


def build_application(serving: Serving) -> Any:
    """A worker's own application and its own Pdi (`api.pdi`), closed when the worker exits."""
    from pdip.api.app import ApiApp
    from pdip.base import Pdi

    pdi = Pdi(serving.root, environment=serving.environment)
    try:
        return pdi.get(ApiApp)
    except BaseException:
        pdi.cleanup()
        raise


def claim_port(host: str, port: int) -> None:
    """ServingError naming the port when it cannot be bound: another program holds it."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own sockets
        try:
            probe.bind((address, port))
        except OSError as error:
            raise ServingError(
                f"{host}:{port} is in use ({error.strerror}); stop what serves there, "
                "or serve on another port (--port, API.PORT)"
            ) from None


def _gunicorn(serving: Serving, host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    from pdip.api.balancing import BalancedThreadWorker, ConnectionShares

    claim_port(host, port)  # at once and by name, not after gunicorn's retries
    c_parser = c_http_parser()
    shares = ConnectionShares(2 * workers, starting=workers)  # room for a reload's (HUP) new workers beside the old

    class Application(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": BalancedThreadWorker,  # gthread, accepting its share of the connections
                "pre_fork": shares.assign,
                "child_exit": shares.release,
                "accesslog": None,
                "errorlog": "-",
                "graceful_timeout": 10,
                "post_worker_init": _warm_worker,
                "worker_exit": _close_worker,
                "http_parser": "fast" if c_parser else "python",  # never a silent fall back
                "when_ready": _says_parser if c_parser else _says_python_parser,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return build_application(serving)

    Application().run()


def c_http_parser() -> bool:
    """Whether gunicorn's C HTTP parser can serve: gunicorn_h1c 0.4.1 or later, the first to
    enforce gunicorn's request limits (gunicorn itself asks the same of it)."""
    try:
        import gunicorn_h1c
    except ImportError:
        return False
    return hasattr(gunicorn_h1c, "LimitRequestLine")


def _says_parser(server: Any) -> None:
    server.log.info("HTTP requests are parsed by gunicorn's C parser (gunicorn_h1c)")


def _says_python_parser(server: Any) -> None:
    server.log.warning(
        "HTTP requests are parsed in Python: pip install 'pdip[api-fast]' for gunicorn's C parser "
        "(gunicorn_h1c), about a sixth less CPU per request"
    )


def _warm_worker(worker: Any) -> None:
    """gunicorn's post_worker_init hook: the worker's routes and a database connection for each
    of its threads are ready before its first request, and the collector stops walking what the
    worker built (`gc.freeze`): a full collection of that heap took 50-60 ms of CPU, in which the
    worker answered nothing."""
    worker.wsgi.warm(worker.cfg.threads)
    gc.collect()  # what building left over goes now, not into the frozen heap
    gc.freeze()
    worker.log.info("Worker ready: %s", worker.pid)  # beside gunicorn's "Booting worker with pid"


def _close_worker(_server: Any, worker: Any) -> None:
    """gunicorn's worker_exit hook: the worker's Pdi ends with it (engines, execution threads)."""
    api = getattr(worker, "wsgi", None)
    if api is not None:
        api.pdi.cleanup()
    if os.environ.get(MULTIPROCESS_VARIABLE) and importlib.util.find_spec("prometheus_client") is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # its gauges (runs going) no longer count


def _waitress(serving: Serving, host: str, port: int, workers: int, threads: int) -> None:
    import waitress

    api = build_application(serving)
    try:
        waitress.serve(api, host=host, port=port, threads=workers * threads)
    finally:
        api.pdi.cleanup()
