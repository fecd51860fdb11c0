"""The CRUD example (examples/crud_api) served by `pdip api`'s default server, under load.

    python bench/bench_api.py served [--requests 8000] [--connections 16] [--database-url URL]

The example runs on PostgreSQL (`--database-url`, else PDIP_TEST_POSTGRES_URL, else the local
default) in a copy of its folder; `pdip api` serves it on a free loopback port. Then
`--connections` keep-alive connections (spread over client processes, so the client is not one
GIL) first POST `--requests` notes, then GET each note written. Printed: requests per second and
p50 / p99 latency of each phase, the errors (any non-2xx or failed request), and whether every
acknowledged write was read back with its title. Bounded: `--requests` in all and `--timeout`
seconds per phase. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "crud_api"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TENANT = {"X-Tenant-Id": "bench"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_notes(port: int, first: int, count: int, deadline: float) -> tuple[list[float], list[tuple[str, str]], int]:
    """One connection's POSTs: (latencies, (id, title) acknowledged, errors)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, written, errors = [], [], 0
    headers = {**TENANT, "Content-Type": "application/json"}
    for number in range(first, first + count):
        if time.monotonic() > deadline:
            break
        title = f"note {number}"
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/Notes", json.dumps({"title": title, "body": "x" * 64}), headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        if response.status == 201:
            written.append((json.loads(data)["id"], title))
        else:
            errors += 1
    connection.close()
    return latencies, written, errors


def get_notes(port: int, notes: list[tuple[str, str]], deadline: float) -> tuple[list[float], int, int]:
    """One connection's GETs: (latencies, notes read back with their title, errors)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, found, errors = [], 0, 0
    for note_id, title in notes:
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        try:
            connection.request("GET", f"/api/Notes/{note_id}", headers=TENANT)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        if response.status == 200 and json.loads(data)["title"] == title:
            found += 1
        else:
            errors += 1
    connection.close()
    return latencies, found, errors


def _client(task):
    kind, port, arguments, deadline = task
    return post_notes(port, *arguments, deadline) if kind == "post" else get_notes(port, arguments, deadline)


def _clients(tasks):
    """Several connections of one client process, each on its own thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(tasks)) as threads:
        return list(threads.map(_client, tasks))


def _spread(pool, tasks, processes: int):
    groups = [tasks[index::processes] for index in range(processes)]
    return [result for group in pool.map(_clients, [group for group in groups if group]) for result in group]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else float("nan")


def report(label: str, latencies: list[float], seconds: float, errors: int) -> None:
    rate = len(latencies) / seconds if seconds else 0.0
    print(
        f"{label:<5} {len(latencies):>7} requests {rate:>8.0f}/s   p50 {percentile(latencies, 0.5):6.1f} ms"
        f"   p99 {percentile(latencies, 0.99):7.1f} ms   errors {errors}"
    )


def serve(root: Path, port: int, environment: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **environment}
    command = [sys.executable, "-m", "pdip", "api", "--root", str(root), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"))  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/swagger.json", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"pdip api did not answer; see {root / 'server.log'}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000, help="notes written, then read (default 8,000)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4, help="client processes the connections are spread over")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase at most")
    parser.add_argument("--database-url", default=os.environ.get("PDIP_TEST_POSTGRES_URL", DEFAULT_URL))
    arguments = parser.parse_args(argv)
    environment = {"DATABASE_TYPE": "postgresql", "DATABASE_CONNECTION_STRING": arguments.database_url}
    connections = arguments.connections
    share = arguments.requests // connections

    with tempfile.TemporaryDirectory(prefix="pdip-bench-served-") as folder:
        root = Path(folder) / "crud_api"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
        reset = (
            "from pdip import Pdi; from pdip.data import DatabaseSessionManager; import notes.domain\n"
            "with Pdi('.') as pdi:\n    manager = pdi.get(DatabaseSessionManager)\n"
            "    notes.domain.Note.__table__.drop(manager.engine, checkfirst=True); manager.create_all()\n"
        )
        subprocess.run([sys.executable, "-c", reset], cwd=root, env={**os.environ, **environment}, check=True)
        port = free_port()
        server = serve(root, port, environment)
        try:
            load = os.getloadavg()[0]
            processes = min(arguments.processes, connections)
            with multiprocessing.get_context("spawn").Pool(processes) as pool:
                warm_up = [("post", port, (-i - 1, 1), time.monotonic() + 30) for i in range(connections)]
                _spread(pool, warm_up, processes)
                started = time.perf_counter()
                deadline = time.monotonic() + arguments.timeout
                tasks = [("post", port, (i * share, share), deadline) for i in range(connections)]
                posted = _spread(pool, tasks, processes)
                post_seconds = time.perf_counter() - started
                written = [note for _, notes, _ in posted for note in notes]
                started = time.perf_counter()
                deadline = time.monotonic() + arguments.timeout
                tasks = [("get", port, written[i::connections], deadline) for i in range(connections)]
                read = _spread(pool, tasks, processes)
                get_seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"examples/crud_api on PostgreSQL, `pdip api` (gunicorn), {connections} connections")
        print(f"load average before: {load:.2f} on {os.cpu_count()} cores")
        report("POST", [value for latencies, _, _ in posted for value in latencies], post_seconds,
               sum(errors for _, _, errors in posted))  # fmt: skip
        report("GET", [value for latencies, _, _ in read for value in latencies], get_seconds,
               sum(errors for _, _, errors in read))  # fmt: skip
        found = sum(found for _, found, _ in read)
        print(f"acknowledged writes {len(written)}, read back with their title {found}")
        print("targets: POST >= 600/s with p99 <= 100 ms, GET >= 1,500/s with p99 <= 50 ms")


if __name__ == "__main__":
    main(sys.argv[1:])
