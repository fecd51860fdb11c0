"""REST source throughput from a local server, against the same pages fetched without pdip, in one run.

    python bench/bench_rest.py [--rows 200000] [--page 1000]

A local threaded server (http.server with keep-alive, in a process of its own, the pages encoded
before the run) serves `--rows` rows of 6 fields in pages of `--page` (`?page=N&size=...`, rows
under `data`). The baseline asks for every page with one
httpx client and decodes it with msgspec, doing nothing with the rows: what any client of this
server pays. Then `Integrator.integrate` copies the endpoint into a memory store, with the
`inline` executor (one process) and the default `process` one (a reader process), and into a
Parquet file. Each line prints rows/s and its ratio to the baseline (target: >= 50,000 rows/s end
to end); peak RSS of this process and of the reader processes is printed last.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import resource
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import orjson

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator


def rows(count: int) -> list[dict]:
    return [
        {
            "id": i,
            "name": f"customer {i}",
            "amount": i * 1.25,
            "active": i % 2 == 0,
            "created": f"2026-01-{i % 28 + 1:02}T10:00:00Z",
            "note": "x" * 30,
        }
        for i in range(count)
    ]


def baseline(base: str, size: int) -> int:
    total, number = 0, 1
    with httpx.Client() as client:
        while True:
            response = client.get(f"{base}/page/bench", params={"page": number, "size": size})
            found = msgspec.json.decode(response.content)["data"]
            if not found:
                return total
            total += len(found)
            number += 1


def through_pdip(base: str, size: int, executor: str, target: Connection, folder: Path) -> int:
    source = Connection(
        "rest",
        {"url": f"{base}/page/bench", "records": "data", "paginate": {"page": {"size_param": "size", "size": size}}},
    )
    copy = Integration("bench", source=source, target=target, batch_size=10_000)
    with Pdi(root_directory=folder) as pdi:
        result = pdi.get(Integrator).integrate(Operation("bench", [copy], executor=executor))
    assert result.ok, result["bench"].error
    return result["bench"].rows_written


class Pages(BaseHTTPRequestHandler):
    """`GET /page/bench?page=N&size=S`: the rows under `data`, encoded before the run; HTTP/1.1
    keep-alive, as APIs serve their clients (werkzeug's test server closes every connection)."""

    protocol_version = "HTTP/1.1"
    encoded: dict[int, bytes] = {}

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        body = self.encoded.get(int(query["page"][0]), b'{"data": []}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def served_apart(count: int, size: int):
    """The server in a process of its own (forked), so it competes with the integrator for no GIL."""
    parent, child = multiprocessing.Pipe()

    def run() -> None:
        every = rows(count)
        Pages.encoded = {n + 1: orjson.dumps({"data": every[n * size : (n + 1) * size]}) for n in range(count // size)}
        server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        child.send(f"http://127.0.0.1:{server.server_port}")
        child.recv()  # until told to stop

    process = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=10)


def timed(function, *args) -> tuple[float, int]:
    started = time.perf_counter()
    count = function(*args)
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    arguments = parser.parse_args()
    with served_apart(arguments.rows, arguments.page) as base, tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        seconds, count = timed(baseline, base, arguments.page)
        assert count == arguments.rows, count
        reference = count / seconds
        print(f"baseline (httpx + msgspec, no pdip)   {reference:>10,.0f} rows/s")
        cases = [
            ("rest -> memory, inline", "inline", Connection("memory", {"store": "copy"})),
            ("rest -> memory, process", "process", Connection("memory", {"store": "copy"})),
            ("rest -> parquet, process", "process", Connection("parquet", {"path": str(folder / "bench.parquet")})),
        ]
        for label, executor, target in cases:
            seconds, count = timed(through_pdip, base, arguments.page, executor, target, folder)
            assert count == arguments.rows, count
            speed = count / seconds
            verdict = "ok" if speed >= 50_000 else "BELOW 50,000 rows/s"
            print(f"{label:<38} {speed:>10,.0f} rows/s  {speed / reference:>6.0%} of baseline  {verdict}")
    writer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {writer:.0f} MiB, children (readers, the server) {readers:.0f} MiB")


if __name__ == "__main__":
    main()
