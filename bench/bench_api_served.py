"""The CRUD example (examples/crud_api) served by `pdip api`'s default server, under load.

    python bench/bench_api.py served [--requests 8000] [--connections 16] [--database-url URL]

The example runs on PostgreSQL (`--database-url`, else PDIP_TEST_POSTGRES_URL, else the local
default) in a copy of its folder; `pdip api` serves it on a free loopback port. Then
`--connections` keep-alive connections first POST `--requests` notes, then GET each note
written. Printed: requests per second and p50 / p99 latency of each phase, the errors (any
non-2xx or failed request), whether every acknowledged write was read back with its title, and
the CPU the server's processes (gunicorn's arbiter and workers) and the client spent per request.
Bounded: `--requests` in all and `--timeout` seconds per phase. Only 127.0.0.1 is ever contacted.

The client is `wrk` when it is on PATH (`--client`; Debian's package `wrk`): a C client spends
some microseconds per request, where Python's http.client spends a good part of what the server
does, on the same two cores. Otherwise the connections are spread over Python client processes,
so the client is at least not one GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
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
    """Several connections of one client process, each on its own thread; and the CPU it spent."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.process_time()
    with ThreadPoolExecutor(len(tasks)) as threads:
        return list(threads.map(_client, tasks)), time.process_time() - started


def _spread(pool, tasks, processes: int, cpu: list[float] | None = None):
    groups = [tasks[index::processes] for index in range(processes)]
    done = pool.map(_clients, [group for group in groups if group])
    if cpu is not None:
        cpu.append(sum(seconds for _, seconds in done))
    return [result for results, _ in done for result in results]


# -- wrk: the same two phases from a C client; Lua keeps what was acknowledged ----------------------

WRK_COMMON = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } pdip_time; int clock_gettime(int, pdip_time *); ]]
local clock = ffi.new("pdip_time")
local function now() ffi.C.clock_gettime(1, clock); return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9 end
local made, threads = 0, {}
function setup(thread)
  thread:set("index", made)
  made = made + 1
  table.insert(threads, thread)
end
local function answered_one(covered)
  -- stop once this thread's share is covered: answers may come back out of order, and a
  -- connection may already have sent one more; a file tells the bench this thread is done, as
  -- wrk itself waits out its whole duration
  answered = answered + 1
  last = now()
  if (covered or answered) >= share and not stopped then
    stopped = true
    io.open(wrk_stopped .. "/" .. index, "w"):close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local first, last, bad, total, found = math.huge, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    first = math.min(first, thread:get("first")); last = math.max(last, thread:get("last"))
    bad = bad + thread:get("bad"); total = total + thread:get("answered"); found = found + thread:get("found")
  end
  local e = summary.errors
  io.write(string.format('{"requests":%d,"seconds":%f,"p50":%f,"p99":%f,"bad":%d,"socket_errors":%d,"found":%d}\\n',
    total, last - first, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, bad,
    e.connect + e.read + e.write + e.timeout, found))
end
"""

WRK_POST = (
    WRK_COMMON
    + """
function init(args)
  share, folder, wrk_stopped = tonumber(args[1]), args[2], args[#args]
  out = io.open(folder .. "/written-" .. index .. ".tsv", "w")
  sent, answered, bad, found, first, last = 0, 0, 0, 0, now(), now()
  wrk.method, wrk.headers["Content-Type"], wrk.headers["X-Tenant-Id"] = "POST", "application/json", "bench"
end
function request()
  sent = sent + 1
  local body = '{"title":"note ' .. index .. '-' .. sent .. '","body":"' .. string.rep("x", 64) .. '"}'
  return wrk.format(nil, "/api/Notes", nil, body)
end
function response(status, headers, body)
  if status == 201 then
    out:write(body:match('"id":"([^"]+)"'), "\\t", body:match('"title":"([^"]*)"'), "\\n")
    out:flush()
  else
    bad = bad + 1
  end
  answered_one()
end
"""
)

WRK_GET = (
    WRK_COMMON
    + """
function init(args)
  local threads_in_all, file = tonumber(args[1]), args[2]
  wrk_stopped = args[#args]
  ids, titles, seen, sent, answered, bad, found, first, last = {}, {}, {}, 0, 0, 0, 0, now(), now()
  local line_number = 0
  for line in io.lines(file) do
    local id, title = line:match("([^\\t]+)\\t(.*)")
    if line_number % threads_in_all == index then table.insert(ids, id); titles[id] = title end
    line_number = line_number + 1
  end
  share = #ids
  wrk.headers["X-Tenant-Id"] = "bench"
end
function request()
  sent = sent + 1
  return wrk.format("GET", "/api/Notes/" .. ids[(sent - 1) % share + 1])
end
function response(status, headers, body)
  local id = body:match('"id":"([^"]+)"')
  if status == 200 and id and titles[id] and body:find('"title":"' .. titles[id] .. '"', 1, true) then
    if not seen[id] then seen[id] = true; found = found + 1 end  -- each note counts once
  else
    bad = bad + 1
  end
  answered_one(found + bad)
end
"""
)


def run_wrk(script: str, port: int, connections: int, seconds: float, arguments: list[str], folder: Path) -> dict:
    """One phase through wrk: its summary (requests, seconds, p50/p99 ms, bad answers, socket
    errors, notes found) and the CPU wrk spent. wrk runs for its whole duration even when every
    thread has stopped, so it is interrupted (SIGINT: it still reports) once each thread has
    left its file in `stopped`."""
    import resource
    import signal

    path = folder / "phase.lua"
    path.write_text(script)
    stopped = Path(tempfile.mkdtemp(prefix="stopped-", dir=folder))
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--timeout", "30s",
               "-s", str(path), f"http://127.0.0.1:{port}", "--", *arguments, str(stopped)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        while process.poll() is None and len(list(stopped.iterdir())) < threads:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        output, errors = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}): {errors}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    summary["client_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return summary


def wrk_phases(port: int, arguments, folder: Path) -> tuple[dict, dict, list[tuple[str, str]]]:
    """POST then GET through wrk: (post summary, get summary, notes acknowledged)."""
    connections = arguments.connections
    threads = min(2, connections)
    warm = folder / "warm"
    warm.mkdir()
    run_wrk(WRK_POST, port, connections, 30, [str(connections), str(warm)], folder)
    share = arguments.requests // threads
    posted = measured_server(
        arguments.server_pid,
        lambda: run_wrk(WRK_POST, port, connections, arguments.timeout, [str(share), str(folder)], folder),
        port,
    )
    written = []
    for name in sorted(glob.glob(str(folder / "written-*.tsv"))):
        written.extend(tuple(line.split("\t", 1)) for line in Path(name).read_text().splitlines())
    notes = folder / "notes.tsv"
    notes.write_text("".join(f"{note_id}\t{title}\n" for note_id, title in written))
    read = measured_server(
        arguments.server_pid,
        lambda: run_wrk(WRK_GET, port, connections, arguments.timeout, [str(threads), str(notes)], folder),
        port,
    )
    return posted, read, written


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a process and its children, from /proc (Linux); 0 elsewhere."""
    return sum(processes_cpu(pid).values())


def processes_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user and system) of a process and of each of its children, by pid, from /proc."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    spent = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = text.rpartition(")")[2].split()
        this_pid = int(stat.split("/")[2])
        if this_pid == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            spent[this_pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return spent


def connections_by_worker(pid: int, port: int) -> list[int]:
    """How many established connections to `port` each child of `pid` holds, most first, from
    /proc (Linux; empty elsewhere): a socket's inode in /proc/net/tcp{,6} matched to its fd."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    established.add(f"socket:[{fields[9]}]")
    held = []
    for worker in processes_cpu(pid):
        if worker != pid:
            with contextlib.suppress(OSError):
                links = [os.readlink(fd) for fd in glob.glob(f"/proc/{worker}/fd/*")]
                held.append(sum(1 for link in links if link in established))
    return sorted(held, reverse=True)


def measured_server(pid: int, phase, port: int | None = None):
    """Runs `phase()` and adds to its summary the CPU the server spent (`server_cpu`), each
    worker's share of it (`workers_cpu`, the arbiter left out) and, a second into the phase, the
    connections each worker held (`connections`, when given the server's `port`)."""
    import threading

    before = processes_cpu(pid)
    held: list[int] = []
    if port is not None:
        sampler = threading.Timer(1.0, lambda: held.extend(connections_by_worker(pid, port)))
        sampler.start()
    summary = phase()
    if port is not None:
        sampler.cancel()
        summary["connections"] = held
    after = processes_cpu(pid)
    summary["server_cpu"] = sum(after.values()) - sum(before.values())
    summary["workers_cpu"] = sorted(
        (seconds - before.get(worker, 0.0) for worker, seconds in after.items() if worker != pid), reverse=True
    )
    return summary


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else float("nan")


def report(label: str, count: int, seconds: float, p50: float, p99: float, errors: int) -> None:
    rate = count / seconds if seconds else 0.0
    print(f"{label:<5} {count:>7} requests {rate:>8.0f}/s   p50 {p50:6.1f} ms   p99 {p99:7.1f} ms   errors {errors}")


def report_cpu(label: str, count: int, server: float, client: float) -> None:
    if count:
        print(
            f"{label:<5} CPU per request: server {server / count * 1000:.2f} ms, client {client / count * 1000:.2f} ms"
        )


def report_workers(label: str, count: int, workers: list[float]) -> None:
    """How the workers shared the server's CPU, and the rate they allow on this machine's cores
    when nothing else runs: a worker is one process whose Python runs on one core at a time, so
    the busiest one, or all of them on every core, sets the bound. Unlike requests per second,
    this hardly moves with what else the machine runs."""
    spent = sum(workers)
    if count and spent:
        shares = " / ".join(f"{seconds / spent:.0%}" for seconds in workers)
        bound = count / max(workers[0], spent / (os.cpu_count() or 1))
        print(f"{label:<5} workers' CPU {shares}: they allow {bound:,.0f}/s on {os.cpu_count()} cores")


def serve(root: Path, port: int, environment: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **environment}
    command = [sys.executable, "-m", "pdip", "api", "--root", str(root), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"))  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/swagger.json", timeout=2):
                if workers_ready(root / "server.log"):
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"pdip api did not answer with all its workers; see {root / 'server.log'}")


def workers_ready(log: Path) -> bool:
    """Whether every worker gunicorn booted said it is ready: connections opened before a worker
    is up are all taken by those that are, and keep-alive connections stay where they were taken."""
    text = log.read_text()
    booted = text.count("Booting worker with pid")
    return booted > 0 and text.count("Worker ready:") >= booted


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000, help="notes written, then read (default 8,000)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4, help="client processes the connections are spread over")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase at most")
    parser.add_argument("--database-url", default=os.environ.get("PDIP_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="the load generator: wrk when on PATH (auto), or Python's http.client")  # fmt: skip
    arguments = parser.parse_args(argv)
    use_wrk = arguments.client == "wrk" or (arguments.client == "auto" and shutil.which("wrk") is not None)
    environment = {"DATABASE_TYPE": "postgresql", "DATABASE_CONNECTION_STRING": arguments.database_url}
    connections = arguments.connections

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
        arguments.server_pid = server.pid
        try:
            load = os.getloadavg()[0]
            if use_wrk:
                posted, read, written = wrk_phases(port, arguments, Path(folder))
            else:
                posted, read, written = python_phases(port, arguments)
        finally:
            server.terminate()
            server.wait(timeout=30)
        client = "wrk" if use_wrk else f"{min(arguments.processes, connections)} Python client processes"
        print(f"examples/crud_api on PostgreSQL, `pdip api` (gunicorn), {connections} connections, {client}")
        print(f"load average before: {load:.2f} on {os.cpu_count()} cores")
        for label, phase in (("POST", posted), ("GET", read)):
            report(label, phase["requests"], phase["seconds"], phase["p50"], phase["p99"],
                   phase["bad"] + phase["socket_errors"])  # fmt: skip
        for label, phase in (("POST", posted), ("GET", read)):
            report_cpu(label, phase["requests"], phase["server_cpu"], phase["client_cpu"])
        for label, phase in (("POST", posted), ("GET", read)):
            report_workers(label, phase["requests"], phase.get("workers_cpu", []))
            if phase.get("connections"):
                print(f"{label:<5} connections held by each worker: {' / '.join(map(str, phase['connections']))}")
        print(f"acknowledged writes {len(written)}, read back with their title {read['found']}")
        print("targets: POST >= 600/s with p99 <= 100 ms, GET >= 1,500/s with p99 <= 50 ms")


def python_phases(port: int, arguments) -> tuple[dict, dict, list[tuple[str, str]]]:
    """POST then GET from Python client processes: (post summary, get summary, notes acknowledged)."""
    connections = arguments.connections
    share = arguments.requests // connections
    processes = min(arguments.processes, connections)
    written: list[tuple[str, str]] = []
    phases = []
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        warm_up = [("post", port, (-i - 1, 1), time.monotonic() + 30) for i in range(connections)]
        _spread(pool, warm_up, processes)
        for kind in ("post", "get"):
            deadline = time.monotonic() + arguments.timeout
            if kind == "post":
                tasks = [("post", port, (i * share, share), deadline) for i in range(connections)]
            else:
                tasks = [("get", port, written[i::connections], deadline) for i in range(connections)]
            client_cpu: list[float] = []
            server_before = process_tree_cpu(arguments.server_pid)
            started = time.perf_counter()
            results = _spread(pool, tasks, processes, client_cpu)
            seconds = time.perf_counter() - started
            latencies = [value for values, _, _ in results for value in values]
            phase = {
                "requests": len(latencies),
                "seconds": seconds,
                "p50": percentile(latencies, 0.5),
                "p99": percentile(latencies, 0.99),
                "bad": sum(errors for _, _, errors in results),
                "socket_errors": 0,
                "client_cpu": client_cpu[0],
                "server_cpu": process_tree_cpu(arguments.server_pid) - server_before,
            }
            if kind == "post":
                written = [note for _, notes, _ in results for note in notes]
            else:
                phase["found"] = sum(found for _, found, _ in results)
            phases.append(phase)
    return phases[0], phases[1], written


if __name__ == "__main__":
    main(sys.argv[1:])
