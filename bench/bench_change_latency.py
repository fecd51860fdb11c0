"""How long a change takes from the writer's commit to the replica, with the default settings.

    python bench/bench_change_latency.py [--seconds 20] [--rates 100,700] [--paths direct,kafka]

The documented change stream, run as a user runs it: an application writes accounts through its
repository (one change per transaction, at a steady rate), the outbox holds each change, and
`pdip run --follow` processes move it on, with no tuning. The application runs as `--writers`
processes (by default one per 100 changes/s: a single Python process committing one change per
transaction does not reach 700/s on two cores), on one schedule: change n is due at n / rate.

- `direct`: one process, outbox (PostgreSQL) -> replica table (PostgreSQL).
- `kafka`: two processes, outbox -> Kafka topic, and topic -> replica table.

A trigger on the replica stamps every row it applies (`clock_timestamp()`, the same clock as
the writer's, on this one machine) into an `applied` table, so each change's latency is its
apply time minus the moment its commit returned. Every change writes a balance no other change
writes (inserts of new accounts, and updates of accounts inserted seconds before), so the
`applied` table also proves each change arrived exactly once: none missing, none applied twice.
(An insert read in one batch with its update, when the replica lags more than `UPDATE_AGE`, is
applied once as the account stands after both, as the log folds it: counted as folded, not
missing, when its update arrived.)

Printed per path and rate: achieved rate, p50/p90/p99/max latency, the proof, and the CPU the
follower processes used while nothing happened (a few idle seconds after the run). The baseline,
measured in the same run: a bare PostgreSQL `LISTEN`/`NOTIFY` round trip (commit -> a waiting
listener wakes), the floor of any wake-up; latencies are also shown as multiples of it; and the
commits per second 7 bare writers reach on this server without a trigger, with one that notifies
on every write, and with pdip's wake trigger while no relay waits (`commit_ceiling`).
Goals (issue #25): p99 <= 60 ms direct, <= 150 ms via Kafka, at 100 and 700 changes/s.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # latency_stages, for --stages

from examples.change_stream.accounts import Account  # noqa: E402 - after the repository root is importable
from pdip import Pdi  # noqa: E402
from pdip.data import DatabaseSessionManager, RepositoryProvider  # noqa: E402

SERVER = os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = os.environ.get("PDIP_BENCH_LATENCY_DATABASE", "pdip_bench_latency")  # one per person sharing a server
UPDATE_AGE = 2.0  # seconds: an update touches an account inserted this long before
IDLE_SECONDS = 4.0
GOALS_MS = {"direct": 60, "kafka": 150}
WRITER_RATE = 100  # changes/s one writer process is given by default
CEILING_WRITERS = 7

DIRECT = """
name: latency-direct
integrations:
  - name: outbox-to-replica
    mode: changes
    source: {kind: postgresql, url: "${URL}", table: pdip_change_log}
    target: {kind: postgresql, url: "${URL}", table: accounts_replica, key: [Id]}
"""
RELAY = """
name: latency-relay
integrations:
  - name: outbox-to-kafka
    mode: changes
    source: {kind: postgresql, url: "${URL}", table: pdip_change_log}
    target: {kind: kafka, bootstrap_servers: "${BOOTSTRAP}", topic: "${TOPIC}"}
    create_target: true
"""
APPLY = """
name: latency-apply
integrations:
  - name: kafka-to-replica
    mode: changes
    source: {kind: kafka, bootstrap_servers: "${BOOTSTRAP}", topic: "${TOPIC}", group: replica, start: earliest}
    target: {kind: postgresql, url: "${URL}", table: accounts_replica, key: [Id]}
"""


def database_url() -> str:
    return sa.make_url(SERVER).set(database=DATABASE).render_as_string(hide_password=False)


def fresh_database() -> str:
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    return database_url()


def prepare_replica(url: str) -> None:
    """The replica table, and the trigger that stamps each row applied to it."""
    engine = sa.create_engine(url)
    Account.__table__.to_metadata(sa.MetaData(), name="accounts_replica").create(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            'CREATE TABLE applied ("Id" uuid, "Balance" bigint, at timestamptz DEFAULT clock_timestamp())'
        )
        connection.exec_driver_sql(
            "CREATE FUNCTION stamp_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            'INSERT INTO applied ("Id", "Balance") VALUES (NEW."Id", NEW."Balance"); RETURN NULL; END $$'
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER stamp AFTER INSERT OR UPDATE ON accounts_replica"
            " FOR EACH ROW EXECUTE FUNCTION stamp_applied()"
        )
    engine.dispose()


class Writer:
    """Writes one change per transaction through the application's repository, and notes
    when each commit returned (wall clock, as the trigger's)."""

    def __init__(self, pdi: Pdi):
        self.pdi = pdi
        self.committed: dict[int, float] = {}  # balance (the change's number) -> commit time
        self.inserted: list[tuple[float, Account, int]] = []  # (commit time, account, its insert's number)
        self.updated = 0
        self.superseded: dict[int, int] = {}  # an insert's number -> the number of the update that followed it

    def run(self, numbers: range, rate: float, start: float | None = None) -> None:
        """The changes `numbers`, change n at `start` + n / `rate` (wall clock; at once if not
        given); every other one an update once an account this writer inserted is old enough."""
        start = time.time() - numbers[0] / rate if start is None else start
        with self.pdi.scope():
            provider = self.pdi.get(RepositoryProvider)
            accounts = provider.get(Account)
            for turn, number in enumerate(numbers):
                delay = start + number / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                old = self.inserted[self.updated] if self.updated < len(self.inserted) else None
                update = turn % 2 and old is not None and old[0] < time.time() - UPDATE_AGE
                if update:
                    account = old[1]
                    self.superseded[old[2]] = number
                    account.Balance = number
                    accounts.update(account)
                    self.updated += 1
                else:
                    account = Account(Name=f"a{number}", Email=f"a{number}@example.com", ApiToken="t", Balance=number)
                    accounts.insert(account)
                provider.commit()
                now = time.time()
                self.committed[number] = now
                if not update:
                    self.inserted.append((now, account, number))


def application(url: str) -> Pdi:
    """The example application on database `url`, as each writer process opens it."""
    configurations = {
        "DATABASE": {"TYPE": "postgresql", "CONNECTION_STRING": url},
        "APPLICATION": {"LOG_LEVEL": "WARNING"},
    }
    return Pdi(
        root_directory=ROOT / "examples" / "change_stream", configurations=configurations, excluded_modules=["accounts"]
    )


def write_share(url: str, numbers: range, rate: float, pipe: Connection) -> None:
    """One writer process: opens the application, says so, is told when the schedule starts,
    writes its share on it and sends back (commit times, updates)."""
    with application(url) as pdi:
        writer = Writer(pdi)
        pipe.send("ready")
        writer.run(numbers, rate, pipe.recv())
        pipe.send((writer.committed, writer.superseded))
    pipe.close()


def write(
    url: str, first: int, count: int, rate: float, writers: int
) -> tuple[dict[int, float], dict[int, int], float]:
    """Changes first..first+count-1 at `rate` per second in all, change n written by application
    process n % `writers`, each committing its own; returns (commit times, the update that followed
    each updated insert, rate achieved).

    Several processes, as a busy application runs: one Python process committing one change
    per transaction reaches a few hundred a second on two cores, not the rates measured here."""
    context = multiprocessing.get_context("spawn")  # nothing of this process's engine inherited
    pipes, processes = [], []
    for index in range(writers):
        ours, theirs = context.Pipe()
        process = context.Process(
            target=write_share, args=(url, range(first + index, first + count, writers), rate, theirs)
        )
        process.start()
        pipes.append(ours)
        processes.append(process)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise SystemExit("a writer process did not start")
    start = time.time() + 0.2 - first / rate
    for pipe in pipes:
        pipe.send(start)
    committed: dict[int, float] = {}
    superseded: dict[int, int] = {}
    for pipe in pipes:
        times, followed = pipe.recv()
        committed.update(times)
        superseded.update(followed)
    for process in processes:
        process.join()
    achieved = count / (max(committed.values()) - (start + first / rate))
    return committed, superseded, achieved


def applied(url: str) -> list[tuple[int, float]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql('SELECT "Balance", extract(epoch FROM at) FROM applied').all()
    engine.dispose()
    return [(int(balance), float(at)) for balance, at in rows]


def wait_applied(url: str, wanted: set[int], timeout: float, superseded: dict[int, int] | None = None) -> bool:
    """Whether every change in `wanted` arrived within `timeout` s; an insert counts as arrived
    once the update that `superseded` it did (see `measure`)."""
    superseded = superseded or {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {balance for balance, _ in applied(url)}
        if all(number in seen or superseded.get(number) in seen for number in wanted):
            return True
        time.sleep(0.2)
    return False


FOLLOWERS = {"direct": [("direct.yml", DIRECT)], "kafka": [("relay.yml", RELAY), ("apply.yml", APPLY)]}


def follow(name: str, text: str, workdir: Path, environ: dict[str, str], stages: bool = False) -> subprocess.Popen:
    """`pdip run <name> --follow` in a process of its own, as a user starts it (`stages`: with
    each batch's steps noted in `workdir`, bench/latency_stages.py)."""
    (workdir / name).write_text(text)
    log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 - the process holds it to its end
    runner = [str(ROOT / "bench" / "latency_stages.py"), str(workdir)] if stages else ["-m", "pdip"]
    return subprocess.Popen(
        [sys.executable, *runner, "run", str(workdir / name), "--follow", "--no-progress"],
        cwd=workdir,
        env={**os.environ, **environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_topic(bootstrap: str, topic: str, timeout: float = 60) -> None:
    from confluent_kafka.admin import AdminClient

    client = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while topic not in client.list_topics(timeout=10).topics:
        if time.monotonic() > deadline:
            raise SystemExit(f"the relay did not create topic {topic} within {timeout:.0f} s")
        time.sleep(0.2)


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    total = 0.0
    for process in processes:
        try:
            tree = psutil.Process(process.pid)
            for member in [tree, *tree.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def notify_floor(url: str, rounds: int = 300) -> list[float]:
    """Commit -> a listener wakes, in seconds, for a bare LISTEN/NOTIFY on this server."""
    import psycopg

    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sent: list[float] = []
    woke: list[float] = []
    with psycopg.connect(conninfo, autocommit=True) as listener, psycopg.connect(conninfo) as writer:
        listener.execute("LISTEN bench_floor")

        def listen() -> None:
            for _ in listener.notifies(stop_after=rounds, timeout=30):
                woke.append(time.time())

        thread = threading.Thread(target=listen)
        thread.start()
        time.sleep(0.2)
        for _ in range(rounds):
            writer.execute("NOTIFY bench_floor")
            writer.commit()
            sent.append(time.time())
            time.sleep(0.003)
        thread.join()
    return [max(0.0, w - s) for s, w in zip(sent, woke, strict=True)]


def commit_ceiling(url: str, writers: int, seconds: float = 3.0) -> dict[str, float]:
    """Commits per second of `writers` bare connections inserting a row per transaction, into a
    table without a trigger, with a statement trigger that notifies on every write (pdip's before
    the wake slots), and with pdip's wake trigger while no relay waits (a busy stream's relay
    reads without waiting). PostgreSQL (up to 17 at least) holds a lock from a notifying
    transaction's pre-commit until its commit is flushed, so notifying commits are flushed one
    after another, never together."""
    import psycopg

    from pdip.tracking.table import WAKE_FUNCTION_BODY

    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("CREATE TABLE ceiling (n bigint)")
        admin.execute(
            "CREATE FUNCTION ceiling_wake() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify('ceiling', ''); RETURN NULL; END $$"
        )
        admin.execute(f"CREATE FUNCTION ceiling_slots() RETURNS trigger LANGUAGE plpgsql AS $${WAKE_FUNCTION_BODY}$$")
        rates = {}
        for case, function in (
            ("no trigger", None),
            ("notify trigger", "ceiling_wake"),
            ("wake slots", "ceiling_slots"),
        ):
            admin.execute("DROP TRIGGER IF EXISTS wake ON ceiling")
            if function:
                admin.execute(
                    f"CREATE TRIGGER wake AFTER INSERT ON ceiling FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                )
            counts = [0] * writers
            until = time.monotonic() + seconds

            def commit(index: int, counts: list[int] = counts, until: float = until) -> None:
                with psycopg.connect(conninfo) as connection:
                    while time.monotonic() < until:
                        connection.execute("INSERT INTO ceiling VALUES (1)")
                        connection.commit()
                        counts[index] += 1

            threads = [threading.Thread(target=commit, args=(index,)) for index in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rates[case] = sum(counts) / seconds
        admin.execute("DROP TABLE ceiling")
        admin.execute("DROP FUNCTION ceiling_wake()")
        admin.execute("DROP FUNCTION ceiling_slots()")
    return rates


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(path: str, rate: float, seconds: float, writers: int, broker: str | None, stages: bool = False) -> dict:
    url = fresh_database()
    workdir = Path(tempfile.mkdtemp(prefix=f"latency-{path}-"))
    with application(url) as pdi:
        pdi.get(DatabaseSessionManager).create_all()
        prepare_replica(url)
        environ = {"URL": url, "BOOTSTRAP": broker or "", "TOPIC": f"latency-{uuid.uuid4().hex[:8]}"}
        (first, text), *others = FOLLOWERS[path]
        processes = [follow(first, text, workdir, environ, stages)]
        try:
            Writer(pdi).run(range(1), 1.0)  # change 0: the followers are ready once it got through
            for name, text in others:  # the relay creates the topic with its first batch
                wait_topic(environ["BOOTSTRAP"], environ["TOPIC"])
                processes.append(follow(name, text, workdir, environ, stages))
            if not wait_applied(url, {0}, 120):
                raise SystemExit(f"{path}: the first change never arrived; see {workdir}/*.log")
            count = int(rate * seconds)
            before, started = cpu_seconds(processes), time.monotonic()
            committed, superseded, achieved = write(url, 1, count, rate, writers)
            arrived = wait_applied(url, set(range(1, count + 1)), 60, superseded)
            busy = cpu_seconds(processes)
            busy_cpu = (busy - before) / (time.monotonic() - started)
            time.sleep(IDLE_SECONDS)
            idle_cpu = (cpu_seconds(processes) - busy) / IDLE_SECONDS
        finally:
            stop(processes)
    stamps = [(balance, at) for balance, at in applied(url) if balance >= 1]
    counts: dict[int, int] = {}
    for balance, _ in stamps:
        counts[balance] = counts.get(balance, 0) + 1
    latencies = [at - committed[balance] for balance, at in stamps if balance in committed]
    # a replica that lags more than UPDATE_AGE reads an insert and its update in one batch and
    # applies the account once, as it stands after both (the log's documented folding): the
    # insert's number is then never stamped, and is not missing if its update was applied
    folded = [number for number, update in superseded.items() if number not in counts and update in counts]
    missing = [number for number in range(1, count + 1) if number not in counts and number not in folded]
    twice = sum(1 for times in counts.values() if times > 1)
    breakdown = []
    if stages:
        import latency_stages

        arrived_at = {}
        for balance, at in stamps:
            arrived_at[balance] = min(at, arrived_at.get(balance, at))
        total = {n: at - committed[n] for n, at in arrived_at.items() if n in committed}
        spans = latency_stages.stages(workdir, committed, arrived_at, path == "kafka")
        breakdown = latency_stages.report(spans, total) + latency_stages.waits(workdir)
    return {
        "stages": breakdown,
        "achieved": achieved,
        "updates": len(superseded),
        "folded": len(folded),
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "missing": missing,
        "twice": twice,
        "arrived": arrived,
        "idle_cpu": idle_cpu,
        "busy_cpu": busy_cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the writers write at each rate")
    parser.add_argument("--rates", default="100,700", help="changes per second, comma separated")
    parser.add_argument("--paths", default="direct,kafka", help="direct, kafka or both")
    parser.add_argument(
        "--writers", type=int, default=0, help="application processes writing (default: one per 100 changes/s)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also time each change's stages (read, handed, applied, committed; bench/latency_stages.py)",
    )
    options = parser.parse_args()
    paths = [path.strip() for path in options.paths.split(",") if path.strip()]
    rates = [float(rate) for rate in options.rates.split(",")]
    fresh_database()
    floor = notify_floor(database_url())
    floor_p50 = statistics.median(floor)
    floor_p99 = percentile(floor, 0.99)
    print(f"baseline: LISTEN/NOTIFY commit -> wake p50 {floor_p50 * 1000:.2f} ms, p99 {floor_p99 * 1000:.2f} ms")
    ceiling = commit_ceiling(database_url(), CEILING_WRITERS)
    print(
        f"baseline: {CEILING_WRITERS} bare writers, a row per transaction: "
        + ", ".join(f"{rate:.0f} commits/s {case}" for case, rate in ceiling.items())
    )
    broker_context = None
    bootstrap = None
    if "kafka" in paths:
        from tests.support.kafka_broker import configured_or_started

        broker_context = configured_or_started("KAFKA_BOOTSTRAP_SERVERS", "PDIP_TEST_KAFKA_BOOTSTRAP")
        bootstrap = broker_context.__enter__()
    failed = False
    try:
        print(
            f"{'path':8} {'rate':>5} {'writers':>7} {'achieved':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"
            f" {'max ms':>8} {'p99/floor':>9} {'goal':>6} {'once':>6} {'busy cpu':>9} {'idle cpu':>9}"
        )
        for path in paths:
            for rate in rates:
                writers = options.writers or math.ceil(rate / WRITER_RATE)
                result = measure(path, rate, options.seconds, writers, bootstrap, options.stages)
                exact = result["arrived"] and not result["missing"] and not result["twice"]
                goal = GOALS_MS[path]
                met = result["p99"] * 1000 <= goal
                failed |= not exact
                print(
                    f"{path:8} {rate:5.0f} {writers:7d} {result['achieved']:8.0f}/s {result['p50'] * 1000:8.1f}"
                    f" {result['p90'] * 1000:8.1f} {result['p99'] * 1000:8.1f} {result['max'] * 1000:8.1f}"
                    f" {result['p99'] / max(floor_p50, 1e-5):9.0f} {('<=' if met else '>') + str(goal):>6}"
                    f" {'yes' if exact else 'NO':>6} {result['busy_cpu'] * 100:8.1f}% {result['idle_cpu'] * 100:8.1f}%",
                    flush=True,
                )
                for line in result["stages"]:
                    print(line)
                if result["folded"]:
                    print(f"  {result['folded']} inserts read with their update in one batch and applied as one")
                if not exact:
                    missing = result["missing"]
                    print(f"  {len(missing)} changes missing ({missing[:10]}), {result['twice']} applied twice")
    finally:
        if broker_context is not None:
            broker_context.__exit__(None, None, None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB this process, {children:.0f} MiB the largest writer or follower process")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
