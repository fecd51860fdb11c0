"""Integrator throughput against the native baselines of each store, in the same run.

    python bench/bench_integrator.py [--rows 1000000] [--only sqlite,postgres,...] [--skip-postgres]
    python bench/bench_integrator.py --executor dask [--rows 1000000] [--workers 2]

The table has 8 columns (ints, text, float, timestamp, bool, nullable int, 50-character text).
Each method runs through `Integrator.integrate` with the default (`process`) executor:
- `sqlite`: SQLite file -> SQLite file vs sqlite3 `executemany` in one transaction (target >= 200%).
- `postgres`: PostgreSQL -> PostgreSQL vs a psycopg `COPY TO STDOUT` -> `COPY FROM STDIN` pipe
  (target >= 95%, issue #17).
- `csv`: CSV -> PostgreSQL vs `COPY FROM` of the same file (target >= 85%), in rounds (`--rounds`)
  of the baseline, pdip as a user gets it (no `batch_size`) and pdip with `TUNED_CSV_BATCH` rows
  per batch, in turn; medians, and the writer's (this process's) CPU seconds.
- `mariadb`: PostgreSQL -> MariaDB, reported.
- `parquet`: PostgreSQL -> Parquet as whole processes (`pdip run` of an operation file) against
  the fastest Arrow path without pdip in the same run: `COPY ... (FORMAT CSV)` parsed by
  pyarrow's CSV reader, and ADBC's PostgreSQL driver when installed (target >= 80%); each with
  the peak resident memory of its process tree (target <= 150 MiB, flat from 1M to 10M rows).
- `duckdb`: DuckDB -> Parquet vs DuckDB's own `COPY ... TO` a Parquet file, and Parquet -> DuckDB
  vs its `COPY ... FROM` the same file into a new empty table (targets >= 80%): whole processes,
  `pdip run` of an operation with default settings against `python -c` of the COPY, in turn,
  `--repeat` times, medians of wall and CPU time and the tree's peak memory; no server.
- `dispositions`: PostgreSQL -> PostgreSQL into a table keyed on `id`, each `write` against
  `append` into the same empty table, in rounds (`--rounds`, default 3), each write in turn and
  each round's ratios to that round's append, the median printed: `replace` (target >= 90%),
  `merge` into it empty (target >= 60%), `merge` into it holding every key, each row an update
  (target >= 40%): of the same values (nothing changes) and of new values (every row changes).
  After each write (untimed) the table must hold every key once, each row's name the one written.
  Each round also times PostgreSQL alone (psycopg, no pdip) doing what `append` and `merge` of
  new values ask of it, batch by batch: `COPY`, and `COPY` to a temporary table + `MERGE`; their
  ratio is the most any client's merge of new values can reach. `dispositions-mariadb`
  (PostgreSQL -> MariaDB) and `dispositions-sqlite` (SQLite file -> SQLite file) print the same
  ratios for those targets.
- `parallel`: `parallelism: 2` and `4` against one reader, PostgreSQL -> PostgreSQL and SQLite ->
  SQLite, the source keyed on `id` (target >= 100%: never slower than one reader).
- `overhead`: fixed cost of `integrate()` for a 10-row memory operation (target <= 0.3 s).
- `startup`: wall time and CPU of `pdip run` of a 1-row SQLite -> SQLite operation, a new
  process each time (target <= 0.3 s of wall time), with the `process` and the `inline`
  executor, and of a 1-row CSV -> SQLite one, against `python -c "import sqlalchemy"` (what
  any process that touches SQL pays) and an empty interpreter, run in turn; and `integrate()`
  of a 1-row memory operation in a warm process (target <= 20 ms); median and fastest of seven,
  and the median CPU (which other work on the machine disturbs less).
Each line prints rows/s and the ratio to its baseline; peak RSS of the writer (this process) and
of the reader processes is printed last. For the memory figure run one method alone at two
sizes (`--only postgres --rows 10000000`): it should stay flat (target < 250 MiB).
`--executor dask` runs `bench/bench_dask.py` instead: PostgreSQL -> PostgreSQL and a CSV folder ->
PostgreSQL on a local Dask cluster against the process executor, in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import io
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator

POSTGRES = os.environ.get("PDIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB = os.environ.get("PDIP_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
COLUMNS = (
    "id integer, name text, price double precision, created timestamp, active boolean, parent integer, "
    "label text, note varchar(50)"
)
TUNED_CSV_BATCH = 100_000  # the `csv` method's tuned line
NAMES = ["id", "name", "price", "created", "active", "parent", "label", "note"]
METHODS = (
    "sqlite",
    "postgres",
    "csv",
    "mariadb",
    "parquet",
    "dispositions",
    "dispositions-mariadb",
    "dispositions-sqlite",
    "duckdb",
    "parallel",
    "overhead",
    "startup",
)
# The same rows as `rows()`, made by the server (filling 10M rows through Python takes minutes).
SERIES = (
    "SELECT g, {name}, g * 0.5, timestamp '2026-01-01' + g * interval '1 second', mod(g, 2) = 0, "
    "CASE WHEN mod(g, 7) = 0 THEN NULL ELSE g / 7 END, 'label ' || mod(g, 100), repeat('n', 50) "
    "FROM generate_series(0, {last}) AS g"
)


def rows(count: int):
    start = dt.datetime(2026, 1, 1)
    for i in range(count):
        yield (
            i,
            f"name {i}",
            i * 0.5,
            start + dt.timedelta(seconds=i),
            i % 2 == 0,
            None if i % 7 == 0 else i // 7,
            f"label {i % 100}",
            "n" * 50,
        )


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def integrate(integration: Integration, folder: str) -> None:
    with Pdi(root_directory=folder) as pdi, contextlib.redirect_stdout(io.StringIO()):
        result = pdi.get(Integrator).integrate(Operation("bench", [integration]))
    if not result.ok:
        raise RuntimeError(result.integrations[0].error)


# -- SQLite ---------------------------------------------------------------------------------------


def sqlite_pair(count: int, folder: str) -> tuple[float, float]:
    source = f"{folder}/source.db"
    with sqlite3.connect(source) as connection:
        connection.execute(f"CREATE TABLE items ({COLUMNS})")
        connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows(count))

    def native():
        with sqlite3.connect(source) as reader, sqlite3.connect(f"{folder}/native.db") as writer:
            writer.execute(f"CREATE TABLE items ({COLUMNS})")
            writer.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader.execute("SELECT * FROM items")
            )

    def through_pdip():
        integrate(
            Integration(
                "sqlite",
                source=Connection("sqlite", {"database": source, "table": "items"}),
                target=Connection("sqlite", {"database": f"{folder}/pdip.db", "table": "items"}),
                create_target=True,
                batch_size=10_000,
            ),
            folder,
        )

    return timed(native), timed(through_pdip)


# -- PostgreSQL -----------------------------------------------------------------------------------


class Postgres:
    """The bench's tables in PostgreSQL, dropped at the end."""

    def __init__(self, count: int):
        import psycopg

        self.dsn = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
        self.connection = psycopg.connect(self.dsn, autocommit=True)
        self.tables: list[str] = []
        self.count = count

    def table(self, name: str, filled: bool = False, names: str = "'name ' || g") -> str:
        """`name`, empty or `filled` with the bench's rows (their `name` column made by `names`)."""
        self.connection.execute(f"DROP TABLE IF EXISTS {name}")
        self.connection.execute(f"CREATE TABLE {name} ({COLUMNS})")
        if filled:
            self.connection.execute(f"INSERT INTO {name} {SERIES.format(last=self.count - 1, name=names)}")
            self.connection.execute(f"VACUUM ANALYZE {name}")
        self.tables.append(name)
        return name

    def drop(self, name: str) -> None:
        self.connection.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        for name in self.tables:
            self.drop(name)
        self.connection.close()


def postgres_pair(database: Postgres, source: str, folder: str) -> tuple[float, float]:
    import psycopg

    native_table, pdip_table = database.table("pdip_bench_native"), "pdip_bench_pdip"
    database.drop(pdip_table)

    def native():
        with psycopg.connect(database.dsn) as reader, psycopg.connect(database.dsn) as writer:
            with (
                reader.cursor().copy(f"COPY {source} TO STDOUT (FORMAT BINARY)") as out,
                writer.cursor().copy(f"COPY {native_table} FROM STDIN (FORMAT BINARY)") as into,
            ):
                for data in out:
                    into.write(data)

    def through_pdip():
        integrate(
            Integration(
                "postgres",
                source=Connection("sql", {"url": POSTGRES, "table": source}),
                target=Connection("sql", {"url": POSTGRES, "table": pdip_table}),
                create_target=True,
            ),
            folder,
        )

    try:
        return timed(native), timed(through_pdip)
    finally:
        database.drop(native_table)
        database.drop(pdip_table)


def csv_pair(database: Postgres, count: int, folder: str, rounds: int) -> list[tuple[str, float, float, float]]:
    """`COPY FROM` the file, then pdip with the default configuration and with `TUNED_CSV_BATCH`
    rows per batch, in turn, `rounds` times: (label, median seconds of the baseline, of pdip, and
    pdip's median CPU seconds in this process, the writer's)."""
    path = f"{folder}/items.csv"
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(NAMES)
        writer.writerows(("" if value is None else value for value in row) for row in rows(count))
    native_table, pdip_table = "pdip_bench_csv_native", "pdip_bench_csv_pdip"

    def native():
        import psycopg

        with psycopg.connect(database.dsn) as connection, open(path, "rb") as stream:
            with connection.cursor().copy(f"COPY {native_table} FROM STDIN (FORMAT CSV, HEADER true)") as copy:
                while data := stream.read(1 << 20):
                    copy.write(data)

    def through_pdip(batch_size: int | None) -> Callable[[], None]:
        source, target = Connection("csv", {"path": path}), Connection("sql", {"url": POSTGRES, "table": pdip_table})
        return lambda: integrate(Integration("csv", source=source, target=target, batch_size=batch_size), folder)

    ways = {"CSV -> PostgreSQL": through_pdip(None), f"  batch_size {TUNED_CSV_BATCH:,}": through_pdip(TUNED_CSV_BATCH)}
    seconds: dict[str, list[float]] = {name: [] for name in ("native", *ways)}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for _ in range(rounds):
            database.table(native_table)
            seconds["native"].append(timed(native))
            for name, way in ways.items():
                database.table(pdip_table)
                started = time.process_time()
                seconds[name].append(timed(way))
                cpu[name].append(time.process_time() - started)
    finally:
        database.drop(native_table)
        database.drop(pdip_table)
    baseline = statistics.median(seconds["native"])
    return [(name, baseline, statistics.median(seconds[name]), statistics.median(cpu[name])) for name in ways]


def postgres_to_mariadb(source: str, folder: str) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(MARIADB)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS pdip_bench_maria")
    try:
        return timed(
            lambda: integrate(
                Integration(
                    "mariadb",
                    source=Connection("sql", {"url": POSTGRES, "table": source}),
                    target=Connection("sql", {"url": MARIADB, "table": "pdip_bench_maria"}),
                    create_target=True,
                    batch_size=10_000,
                ),
                folder,
            )
        )
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS pdip_bench_maria")
        engine.dispose()


# -- PostgreSQL -> Parquet, whole processes -------------------------------------------------------

# The best Arrow paths without pdip, each a whole process as a user would run it. `{dsn}`,
# `{table}`, `{path}` are filled in. COPY as CSV, parsed by pyarrow's CSV reader with the
# table's types; and ADBC's PostgreSQL driver (binary COPY decoded in C++), when installed.
COPY_CSV_TO_ARROW = """
import io, psycopg, pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq
schema = pa.schema([("id", pa.int32()), ("name", pa.string()), ("price", pa.float64()),
    ("created", pa.timestamp("us")), ("active", pa.bool_()), ("parent", pa.int32()),
    ("label", pa.string()), ("note", pa.string())])
class Stream(io.RawIOBase):
    def __init__(self, copy):
        self.chunks, self.rest = iter(copy), b""
    def readable(self):
        return True
    def readinto(self, buffer):
        while not self.rest:
            self.rest = bytes(next(self.chunks, b"")) or None
            if self.rest is None:
                return 0
        size = min(len(buffer), len(self.rest))
        buffer[:size], self.rest = self.rest[:size], self.rest[size:]
        return size
with psycopg.connect("{dsn}") as connection, connection.cursor().copy("COPY {table} TO STDOUT (FORMAT CSV)") as copy:
    reader = pc.open_csv(io.BufferedReader(Stream(copy), 1 << 20),
        read_options=pc.ReadOptions(column_names=schema.names, block_size=1 << 24),
        parse_options=pc.ParseOptions(newlines_in_values=True),
        convert_options=pc.ConvertOptions(column_types=schema, true_values=["t"], false_values=["f"],
            strings_can_be_null=True, quoted_strings_can_be_null=False))
    with pq.ParquetWriter("{path}", schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
"""
ADBC_TO_ARROW = """
import adbc_driver_postgresql.dbapi as adbc, pyarrow.parquet as pq
with adbc.connect("{dsn}") as connection, connection.cursor() as cursor:
    cursor.execute("SELECT * FROM {table}")
    reader = cursor.fetch_record_batch()
    with pq.ParquetWriter("{path}", reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
"""
PDIP_OPERATION = """
name: bench
integrations:
  - name: parquet
    source: {{kind: sql, url: "{url}", table: {table}}}
    target: {{kind: parquet, path: "{path}"}}
"""


def as_installed() -> dict[str, str]:
    """The environment of a measured whole process: this checkout's pdip, its bytecode cached as
    any install has it. This environment may set PYTHONDONTWRITEBYTECODE, which would time the
    compiling of pdip's hundred-odd modules in every `pdip run` (0.2 s of CPU measured
    2026-12-06), while the libraries compared with come with their bytecode; a first untimed run
    writes it."""
    environment = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def tree_memory(pid: int) -> tuple[int, int]:
    """Bytes resident in `pid` and all its descendants now (Linux /proc), each page shared by
    several of them (a forked child's, until written) counted once: the sum of their PSS; and
    the anonymous part of it (the heaps; the rest is library code and data mapped from files,
    whose share falls as other processes on the machine map the same libraries)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                parents.setdefault(parent, []).append(int(entry))
    total = anonymous = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        pending.extend(parents.get(current, []))
        with contextlib.suppress(OSError):
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                found = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in rollup if line.endswith("kB\n")}
            total += found.get("Pss", 0)
            anonymous += found.get("Pss_Anon", 0)
    return total, anonymous


def whole_process(command: list[str], folder: str, sampled: bool) -> tuple[float, float, float, float]:
    """Seconds a command takes, the CPU seconds of its process tree (user and system, the reader
    processes it waited for included; on a shared machine these move far less than the wall
    time) and, when `sampled`, the peak memory of the tree and the peak of its anonymous part
    (MiB of PSS, every 20 ms; sampling takes the measured processes' memory locks, so a timed run
    is not sampled)."""
    import subprocess

    with open(f"{folder}/process.log", "w+") as log:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=as_installed())
        peak = peak_anonymous = 0
        while sampled and process.poll() is None:
            total, anonymous = tree_memory(process.pid)
            peak, peak_anonymous = max(peak, total), max(peak_anonymous, anonymous)
            time.sleep(0.02)
        process.wait()
        elapsed = time.perf_counter() - started
        if process.returncode:
            log.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{log.read()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, used, peak / (1 << 20), peak_anonymous / (1 << 20)


def postgres_to_parquet(
    database: Postgres, source: str, folder: str, repeat: int
) -> dict[str, tuple[float, float, float]]:
    """Each way of copying the table into a Parquet file, as a whole process, `repeat` times in
    turn (the machine is shared): the fastest run's seconds; then once more for its peak in MiB
    (and its anonymous part), after an untimed `pdip run` that writes pdip's bytecode. Last,
    `pdip run` of a one-row table: the floor a run's memory stands on (the interpreter, the
    libraries, the reader process), whatever the rows."""
    import importlib.util
    import sys

    python, dsn, path = sys.executable, database.dsn, f"{folder}/items.parquet"
    commands = {"COPY (CSV) -> pyarrow": [python, "-c", COPY_CSV_TO_ARROW.format(dsn=dsn, table=source, path=path)]}
    if importlib.util.find_spec("adbc_driver_postgresql"):
        commands["ADBC"] = [python, "-c", ADBC_TO_ARROW.format(dsn=dsn, table=source, path=path)]
    with open(f"{folder}/bench.yml", "w") as operation:
        operation.write(PDIP_OPERATION.format(url=POSTGRES, table=source, path=path))
    commands["pdip run"] = [python, "-m", "pdip", "run", "bench.yml", "--no-progress"]
    one_row = database.table("pdip_bench_one_row")
    one_row_series = SERIES.format(last=0, name="'name ' || g")
    database.connection.execute(f"INSERT INTO {one_row} {one_row_series}")
    with open(f"{folder}/one_row.yml", "w") as operation:
        operation.write(PDIP_OPERATION.format(url=POSTGRES, table=one_row, path=f"{folder}/one_row.parquet"))
    one_row_run = [*commands["pdip run"][:4], "one_row.yml", "--no-progress"]
    whole_process(one_row_run, folder, sampled=False)  # untimed: writes pdip's bytecode (`as_installed`)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    used: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            elapsed, cpu, *_ = whole_process(command, folder, sampled=False)
            seconds[name].append(elapsed)
            used[name].append(cpu)
    found = {
        name: (min(seconds[name]), *whole_process(command, folder, sampled=True)[2:])
        for name, command in commands.items()
    }
    for name in commands:  # the medians too: on a shared machine the fastest run flatters both sides
        found[f"{name}, median"] = (statistics.median(seconds[name]), statistics.median(used[name]), 0.0)
    _, cpu, *peaks = whole_process(one_row_run, folder, True)
    found["pdip run, 1 row"] = (cpu, *peaks)
    return found


@dataclasses.dataclass
class Keyed:
    """A store `dispositions` writes to: its table `pdip_bench_keyed` (keyed on `id`) made anew
    and empty by `empty`, the rows read from `source`, and from `changed` the same keys with
    every row's `name` changed; `held` counts the table's rows, keys and changed names."""

    label: str
    target: dict
    source: Connection
    changed: Connection
    empty: Callable[[], None]
    held: Callable[[], tuple[int, int, int]]
    floor: Callable[[int], tuple[float, float]] | None = None


HELD = (
    "SELECT count(*), count(DISTINCT id), coalesce(sum(CASE WHEN name LIKE '% changed' THEN 1 ELSE 0 END), 0) FROM {}"
)


DISPOSITIONS = ("append", "replace", "merge into an empty table", "merge, same values", "merge, new values")


def dispositions(store: Keyed, count: int, folder: str, rounds: int) -> dict[str, list[float]]:
    """Seconds of each write per round, in turn (`DISPOSITIONS`): `append` and `replace` (while
    the database is as quiet as it was for append), `merge` into the table empty, `merge` again of
    the same rows (every row an update that changes nothing), `merge` of rows whose values all
    changed (every row an update that writes). After each write, untimed, the table must hold
    every row once with the names of the rows written (`Keyed.held`)."""

    def write(how: str, source: Connection) -> float:
        seconds = timed(
            lambda: integrate(
                Integration(
                    f"keyed-{how}",
                    source=source,
                    target=Connection("sql", {**store.target, "table": "pdip_bench_keyed"}),
                    write=how,
                    batch_size=10_000,
                ),
                folder,
            )
        )
        expected = (count, count, count if source is store.changed else 0)
        if store.held() != expected:  # not timed: every row is checked after each write
            raise RuntimeError(f"{store.label} {how}: (rows, keys, changed names) {store.held()}, not {expected}")
        return seconds

    found: dict[str, list[float]] = {name: [] for name in DISPOSITIONS}
    for _ in range(rounds):
        store.empty()
        found["append"].append(write("append", store.source))
        found["replace"].append(write("replace", store.source))
        store.empty()
        found["merge into an empty table"].append(write("merge", store.source))
        found["merge, same values"].append(write("merge", store.source))
        found["merge, new values"].append(write("merge", store.changed))
        if store.floor is not None:
            found.setdefault("floor", []).append(store.floor(count))
    store.empty()
    return found


FLOOR_BATCH = 10_000  # as `dispositions` writes


def postgres_floor(database: Postgres, source: str, changed: str) -> Callable[[int], tuple[float, float]]:
    """What PostgreSQL itself takes, without pdip, for what `append` and `merge, new values` ask
    of it (seconds of each): the source's rows by binary `COPY` into the empty keyed table, then
    the changed rows staged by `COPY` into a temporary table and applied by one `MERGE` per batch,
    each batch its own transaction. The batches are read out to files before either is timed
    (each is read back from the page cache as it is written: this process holds one batch). A `MERGE`
    that updates every row writes three WAL records a row (the old row locked to leave its full
    page, the new version, its index entry) where `COPY` writes one a page: this ratio is the
    ceiling for any client's merge of new values."""

    folder = tempfile.mkdtemp(prefix="pdip-bench-floor-")

    def batches(table: str, count: int) -> list[str]:
        found = []
        for start in range(0, count, FLOOR_BATCH):
            query = f"COPY (SELECT * FROM {table} WHERE id >= {start} AND id < {start + FLOOR_BATCH}) TO STDOUT"
            found.append(f"{folder}/floor-{table}-{start}.copy")
            with database.connection.cursor().copy(f"{query} (FORMAT binary)") as copy, open(found[-1], "wb") as out:
                for part in copy:
                    out.write(part)
        return found

    def floor(count: int) -> tuple[float, float]:
        import psycopg

        rows, updates = batches(source, count), batches(changed, count)
        names = ", ".join(NAMES)
        updated = [name for name in NAMES if name != "id"]
        merge = (
            "MERGE INTO pdip_bench_floor AS t USING (SELECT DISTINCT ON (id) * FROM stage ORDER BY id, ctid DESC) AS s "
            f"ON t.id = s.id WHEN MATCHED AND ({', '.join('t.' + n for n in updated)}) IS DISTINCT FROM "
            f"({', '.join('s.' + n for n in updated)}) THEN UPDATE SET {', '.join(f'{n} = s.{n}' for n in updated)} "
            f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({', '.join('s.' + n for n in NAMES)})"
        )
        database.drop("pdip_bench_floor")
        database.connection.execute(f"CREATE TABLE pdip_bench_floor ({COLUMNS}, PRIMARY KEY (id))")
        with psycopg.connect(database.dsn, autocommit=True) as connection:
            connection.execute("SET synchronous_commit = off")  # as pdip's batches after the first

            def append() -> None:
                for batch in rows:
                    with (
                        connection.transaction(),
                        connection.cursor().copy("COPY pdip_bench_floor FROM STDIN (FORMAT binary)") as copy,
                    ):
                        copy.write(Path(batch).read_bytes())

            def merged() -> None:
                for batch in updates:
                    with connection.transaction():
                        connection.execute(f"CREATE TEMPORARY TABLE stage ({COLUMNS}) ON COMMIT DROP")
                        with connection.cursor().copy("COPY stage FROM STDIN (FORMAT binary)") as copy:
                            copy.write(Path(batch).read_bytes())
                        connection.execute(merge)

            seconds = timed(append), timed(merged)
        database.drop("pdip_bench_floor")
        for batch in (*rows, *updates):
            os.remove(batch)
        return seconds

    return floor


def postgres_keyed(database: Postgres, source: str) -> Keyed:
    changed = database.table("pdip_bench_changed", filled=True, names="'name ' || g || ' changed'")
    database.tables.append("pdip_bench_keyed")

    def empty() -> None:
        database.drop("pdip_bench_keyed")
        database.connection.execute(f"CREATE TABLE pdip_bench_keyed ({COLUMNS}, PRIMARY KEY (id))")

    return Keyed(
        "PostgreSQL",
        {"url": POSTGRES},
        Connection("sql", {"url": POSTGRES, "table": source}),
        Connection("sql", {"url": POSTGRES, "table": changed}),
        empty,
        lambda: database.connection.execute(HELD.format("pdip_bench_keyed")).fetchone(),
        postgres_floor(database, source, changed),
    )


def mariadb_keyed(database: Postgres, source: str) -> Keyed:
    """PostgreSQL -> MariaDB, the rows as `postgres_keyed` reads them."""
    import sqlalchemy as sa

    keyed = postgres_keyed(database, source)
    engine = sa.create_engine(MARIADB)

    def empty() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS pdip_bench_keyed")
            connection.exec_driver_sql(
                "CREATE TABLE pdip_bench_keyed (id integer PRIMARY KEY, name text, price double, created datetime, "
                "active boolean, parent integer, label text, note varchar(50))"
            )

    def held() -> tuple[int, int, int]:
        connection = engine.raw_connection()  # the driver's own cursor: no parameters, so `%` is not a marker
        try:
            cursor = connection.cursor()
            cursor.execute(HELD.format("pdip_bench_keyed"))
            return tuple(int(value) for value in cursor.fetchone())
        finally:
            connection.close()

    return dataclasses.replace(keyed, label="MariaDB", target={"url": MARIADB}, empty=empty, held=held, floor=None)


def sqlite_keyed(count: int, folder: str) -> Keyed:
    """SQLite file -> SQLite file."""
    for name, changed in (("keyed_source", False), ("keyed_changed", True)):
        with contextlib.closing(sqlite3.connect(f"{folder}/{name}.db")) as connection, connection:
            connection.execute(f"CREATE TABLE items ({COLUMNS})")
            made = ((i, f"{n} changed" if changed else n, *rest) for i, n, *rest in rows(count))
            connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", made)
    target = f"{folder}/keyed_target.db"

    def empty() -> None:
        with contextlib.closing(sqlite3.connect(target)) as connection, connection:
            connection.execute("DROP TABLE IF EXISTS pdip_bench_keyed")
            connection.execute(f"CREATE TABLE pdip_bench_keyed ({COLUMNS}, PRIMARY KEY (id))")

    def held() -> tuple[int, int, int]:
        with contextlib.closing(sqlite3.connect(target)) as connection:
            return connection.execute(HELD.format("pdip_bench_keyed")).fetchone()

    return Keyed(
        "SQLite",
        {"database": target, "type": "sqlite"},
        Connection("sqlite", {"database": f"{folder}/keyed_source.db", "table": "items"}),
        Connection("sqlite", {"database": f"{folder}/keyed_changed.db", "table": "items"}),
        empty,
        held,
    )


def dispositions_report(store: Keyed, count: int, found: dict[str, list[float]]) -> None:
    """Each write's median ratio to `append` over the rounds, each round's own append its baseline."""
    targets = {"replace": ">= 90%", "merge into an empty table": ">= 60%"}
    appended = found.pop("append")
    floors = found.pop("floor", [])
    print(f"{store.label}: append {count / statistics.median(appended):,.0f} rows/s (median of {len(appended)})")
    for name, seconds in found.items():
        ratios = [base / measured for base, measured in zip(appended, seconds, strict=True)]
        target = targets.get(name, ">= 40%")  # both merges into a table that holds every key
        shown = ", ".join(f"{ratio:.0%}" for ratio in ratios)
        print(f"  {name:<28} {statistics.median(ratios):6.0%} of append (rounds: {shown})   target {target}")
    if floors:  # the same two writes by psycopg alone: no client's merge of new values does better
        ratios = [copied / merged for copied, merged in floors]
        shown = ", ".join(f"{ratio:.0%}" for ratio in ratios)
        label = "psycopg alone, new values"
        print(f"  {label:<28} {statistics.median(ratios):6.0%} of its COPY (rounds: {shown})   the database's ceiling")


# -- DuckDB ---------------------------------------------------------------------------------------

DUCKDB_ROWS = (
    "SELECT range::INTEGER AS id, 'name ' || range AS name, (range * 0.5)::DOUBLE AS price, "
    "TIMESTAMP '2026-01-01' + to_seconds(range) AS created, range % 2 = 0 AS active, "
    "CASE WHEN range % 7 = 0 THEN NULL ELSE (range // 7)::INTEGER END AS parent, 'label ' || range % 100 AS label, "
    "repeat('n', 50)::VARCHAR(50) AS note FROM range({count})"
)


DUCKDB_OPERATION = """
name: bench
integrations:
  - name: {name}
    source: {source}
    target: {target}
    create_target: true
"""
COPY_FROM = """
import duckdb
with duckdb.connect("{database}") as database:
    database.execute("CREATE TABLE items AS FROM read_parquet('{parquet}') LIMIT 0")
    database.execute("COPY items FROM '{parquet}' (FORMAT parquet)")
"""
COPY_TO = """
import duckdb
with duckdb.connect("{database}", read_only=True) as database:
    database.execute("COPY items TO '{parquet}' (FORMAT parquet, COMPRESSION snappy)")
"""


def duckdb_pairs(count: int, folder: str, rounds: int) -> dict[str, dict[str, tuple[float, float, float]]]:
    """DuckDB -> Parquet against DuckDB's own `COPY ... TO`, and Parquet -> DuckDB against its
    `COPY ... FROM` into a new empty table, each a whole process: `pdip run` of an operation with
    default settings against `python -c` of the COPY, in turn, `rounds` times (the machine is
    shared). For each: (median seconds, median CPU seconds of the process tree, peak MiB of the
    tree sampled in one more run). Processes may write bytecode, as an install has it; a first
    untimed run of each writes it."""
    import statistics
    import subprocess
    import sys

    import duckdb

    home = f"{folder}/duckdb"
    os.makedirs(home, exist_ok=True)
    source, landing = f"{home}/source.duckdb", f"{home}/landing.parquet"
    with duckdb.connect(source) as database:
        database.execute(f"CREATE TABLE items AS {DUCKDB_ROWS.format(count=count)}")
        database.execute(f"COPY items TO '{landing}' (FORMAT parquet, COMPRESSION snappy)")
    operations = {
        "to_parquet": (
            "duckdb-parquet",
            f"{{kind: duckdb, database: {source}, table: items}}",
            f"{{kind: parquet, path: {home}/pdip.parquet}}",
        ),
        "from_parquet": (
            "parquet-duckdb",
            f"{{kind: parquet, path: {landing}}}",
            f"{{kind: duckdb, database: {home}/pdip.duckdb, table: items}}",
        ),
    }
    for name, (integration, source_yaml, target_yaml) in operations.items():
        with open(f"{home}/{name}.yml", "w") as stream:
            stream.write(DUCKDB_OPERATION.format(name=integration, source=source_yaml, target=target_yaml))
    python = sys.executable
    commands = {
        "copy_to": [python, "-c", COPY_TO.format(database=source, parquet=f"{home}/native.parquet")],
        "to_parquet": [python, "-m", "pdip", "run", f"{home}/to_parquet.yml", "--no-progress"],
        "copy_from": [python, "-c", COPY_FROM.format(database=f"{home}/native.duckdb", parquet=landing)],
        "from_parquet": [python, "-m", "pdip", "run", f"{home}/from_parquet.yml", "--no-progress"],
    }
    environment = as_installed()

    def run(name: str, sampled: bool = False) -> tuple[float, float, float]:
        for database in ("native.duckdb", "pdip.duckdb", "native.duckdb.wal", "pdip.duckdb.wal"):
            _remove(f"{home}/{database}")  # each run into a new database
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(commands[name], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while sampled and process.poll() is None:
            peak = max(peak, tree_memory(process.pid)[0])
            time.sleep(0.02)
        _, error = process.communicate()
        elapsed = time.perf_counter() - started
        if process.returncode:
            raise RuntimeError(f"{name} failed:\n{error.decode()}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return elapsed, used, peak / (1 << 20)

    for name in commands:
        run(name)  # untimed: writes the bytecode
    found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name in commands:
            found[name].append(run(name))
    return {
        name: (
            statistics.median(item[0] for item in runs),
            statistics.median(item[1] for item in runs),
            run(name, sampled=True)[2],
        )
        for name, runs in found.items()
    }


def duckdb_report(count: int, found: dict[str, tuple[float, float, float]]) -> None:
    for label, baseline, measured, target in (
        ("DuckDB -> Parquet", "copy_to", "to_parquet", "target >= 80% of COPY TO"),
        ("Parquet -> DuckDB", "copy_from", "from_parquet", "target >= 80% of COPY FROM"),
    ):
        report(label, count, found[baseline][0], found[measured][0], target)
        for name in (baseline, measured):
            seconds, used, peak = found[name]
            print(f"  {name:<26} median {seconds:6.2f} s   CPU {used:5.2f} s   peak {peak:4.0f} MiB (tree PSS)")
        print(f"  {'CPU':<26} {found[baseline][1] / found[measured][1]:6.0%} of COPY's")


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its children that ended."""
    used = os.times()
    return used.user + used.system + used.children_user + used.children_system


# -- parallel readers -----------------------------------------------------------------------------


def parallel_readers(database: Postgres | None, count: int, folder: str) -> list[tuple[str, float, float]]:
    """(label, seconds with one reader, seconds with N) for N in 2 and 4, a source keyed on `id`;
    each the best of three runs taken in turn (1, 2, 4, 1, 2, 4, ...), so that a busy moment of the
    machine does not fall on one of them only."""
    pairs = []
    if database is not None:
        source = database.table("pdip_bench_keyed_source", filled=True)
        database.connection.execute(f"ALTER TABLE {source} ADD PRIMARY KEY (id)")
        target = Connection("sql", {"url": POSTGRES, "table": "pdip_bench_parallel"})
        clean = functools.partial(database.drop, "pdip_bench_parallel")
        pairs.append(("PostgreSQL -> PostgreSQL", Connection("sql", {"url": POSTGRES, "table": source}), target, clean))
    keyed, copy = f"{folder}/keyed.db", f"{folder}/parallel.db"
    with contextlib.closing(sqlite3.connect(keyed)) as connection, connection:
        connection.execute(f"CREATE TABLE items ({COLUMNS.replace('id integer', 'id integer primary key')})")
        connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows(count))
    source = Connection("sqlite", {"database": keyed, "table": "items"})
    target = Connection("sqlite", {"database": copy, "table": "items"})
    pairs.append(("SQLite -> SQLite", source, target, functools.partial(_remove, copy)))
    measured = []
    for label, source, target, clean in pairs:
        seconds: dict[int, list[float]] = {1: [], 2: [], 4: []}
        for _ in range(3):
            for readers in seconds:
                clean()
                integration = Integration(
                    "parallel", source=source, target=target, create_target=True, batch_size=10_000, parallelism=readers
                )
                seconds[readers].append(timed(functools.partial(integrate, integration, folder)))
        clean()
        measured.extend((f"{label}, {readers} readers", min(seconds[1]), min(seconds[readers])) for readers in (2, 4))
    return measured


def _remove(path: str) -> None:
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name):
            os.remove(name)


# -- fixed cost -----------------------------------------------------------------------------------


def fixed_overhead(folder: str) -> float:
    def ten_rows():
        with Pdi(root_directory=folder) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["ten"] = [{"id": i} for i in range(10)]
            integrator.integrate(
                Operation(
                    "tiny",
                    [
                        Integration(
                            "t",
                            source=Connection("memory", {"store": "ten"}),
                            target=Connection("memory", {"store": "out"}),
                        )
                    ],
                )
            )

    ten_rows()
    return min(timed(ten_rows) for _ in range(5))


def startup(folder: str, rounds: int = 7) -> dict[str, tuple[float, float, float | None]]:
    """(median, fastest, median CPU) seconds of whole processes, run in turn `rounds` times (the
    machine is shared; CPU, which other programs disturb less, is the process's own user and
    system time): `pdip run` of a one-row SQLite -> SQLite operation with the `process` executor and
    with `inline`, of a one-row CSV -> SQLite one, `python -c "import sqlalchemy"` and an empty
    interpreter; then `integrate()` of a one-row memory operation in a warm process. The
    processes may write bytecode, as any install has it (this environment may set
    PYTHONDONTWRITEBYTECODE, which would time the compiling of pdip's modules in every
    process); a first untimed run writes it."""
    import subprocess
    import sys

    home = f"{folder}/startup"
    os.makedirs(home, exist_ok=True)
    with contextlib.closing(sqlite3.connect(f"{home}/source.db")) as connection, connection:
        connection.execute("CREATE TABLE IF NOT EXISTS t (id integer primary key, name text)")
        connection.execute("INSERT OR REPLACE INTO t VALUES (1, 'one')")
    with open(f"{home}/one.csv", "w") as stream:
        stream.write("id,name\n1,one\n")
    sources = {"one": "{kind: sqlite, database: source.db, table: t}", "csv": "{kind: csv, path: one.csv}"}
    for name, source in sources.items():
        with open(f"{home}/{name}.yml", "w") as stream:
            stream.write(
                f"name: {name}\nintegrations:\n  - name: {name}\n    source: {source}\n"
                f"    target: {{kind: sqlite, database: {name}.db, table: t}}\n"
                "    write: replace\n    create_target: true\n"
            )
    environment = as_installed()
    commands = {
        "pdip run (process)": ["-m", "pdip", "run", f"{home}/one.yml"],
        "pdip run (inline)": ["-m", "pdip", "run", f"{home}/one.yml", "--executor", "inline"],
        "pdip run CSV -> SQLite": ["-m", "pdip", "run", f"{home}/csv.yml"],
        "import sqlalchemy": ["-c", "import sqlalchemy"],
        "python -c pass": ["-c", "pass"],
    }

    def process(arguments: list[str]) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        elapsed = timed(
            lambda: subprocess.run([sys.executable, *arguments], check=True, capture_output=True, env=environment)
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    process(commands["pdip run (process)"])
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, arguments in commands.items():
            seconds[name].append(process(arguments))
    found: dict[str, tuple[float, float, float | None]] = {
        name: (
            statistics.median(item[0] for item in runs),
            min(item[0] for item in runs),
            statistics.median(item[1] for item in runs),
        )
        for name, runs in seconds.items()
    }
    with Pdi(root_directory=home) as pdi:
        integrator = pdi.get(Integrator)
        integrator.stores["one"] = [{"id": 1}]
        operation = Operation(
            "one",
            [
                Integration(
                    "one", source=Connection("memory", {"store": "one"}), target=Connection("memory", {"store": "out"})
                )
            ],
        )
        integrator.integrate(operation)
        warm = [timed(lambda: integrator.integrate(operation)) for _ in range(rounds)]
    found["warm integrate()"] = (statistics.median(warm), min(warm), None)
    return found


# -- report ---------------------------------------------------------------------------------------


def report(label: str, count: int, baseline: float, measured: float, target: str) -> None:
    ratio = baseline / measured
    baseline_rate = f"{count / baseline:,.0f} rows/s"
    print(f"{label:<28} {count / measured:>10,.0f} rows/s   {ratio:6.0%} of the baseline ({baseline_rate})   {target}")


def reported(label: str, count: int, measured: float) -> None:
    print(f"{label:<28} {count / measured:>10,.0f} rows/s   (reported)")


def parquet_report(count: int, found: dict[str, tuple[float, float, float]]) -> None:
    """pdip against the fastest Arrow path of the same run, each with its process tree's peak
    (and that peak's anonymous part); the medians of their wall and CPU seconds; then a one-row
    `pdip run`, the floor."""
    pdip_seconds, pdip_peak, pdip_anonymous = found.pop("pdip run")
    floor_cpu, floor, floor_anonymous = found.pop("pdip run, 1 row")
    medians = {name.removesuffix(", median"): found.pop(name)[:2] for name in list(found) if name.endswith(", median")}
    best = min(found, key=lambda name: found[name][0])
    for name, (seconds, peak, anonymous) in found.items():
        memory = f"peak {peak:4.0f} MiB (tree PSS; {anonymous:4.0f} anonymous)"
        print(f"  {name:<26} {count / seconds:>10,.0f} rows/s   {seconds:6.2f} s   {memory}")
    report("PostgreSQL -> Parquet", count, found[best][0], pdip_seconds, f"target >= 80% of {best}")
    median_best = min((name for name in medians if name != "pdip run"), key=lambda name: medians[name][0])
    report("  (medians)", count, medians[median_best][0], medians["pdip run"][0], f"of {median_best}")
    cpu = {name: f"{used:.2f}" for name, (_, used) in medians.items()}
    print(f"  {'CPU of the tree, medians':<26} {', '.join(f'{name} {used} s' for name, used in cpu.items())}")
    memory = f"peak {pdip_peak:4.0f} MiB (tree PSS; {pdip_anonymous:4.0f} anonymous)"
    print(f"  {'pdip run':<26} {pdip_seconds:>17.2f} s   {memory}   target <= 150 MiB")
    memory = f"peak {floor:4.0f} MiB (tree PSS; {floor_anonymous:4.0f} anonymous)"
    print(f"  {'pdip run, 1 row (floor)':<26} {'CPU':>10} {floor_cpu:5.2f} s   {memory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    parser.add_argument("--repeat", type=int, default=3, help="parquet, duckdb: runs of each way, in turn")
    parser.add_argument("--rounds", type=int, default=3, help="csv, dispositions: rounds of every way, in turn")
    parser.add_argument("--skip-postgres", action="store_true", help="run only what needs no server")
    parser.add_argument("--executor", choices=("process", "dask"), default="process")
    parser.add_argument("--workers", type=int, default=2, help="with --executor dask: local workers")
    arguments = parser.parse_args()
    if arguments.executor == "dask":
        import sys

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_dask

        sys.argv = [sys.argv[0], "--rows", str(arguments.rows), "--workers", str(arguments.workers)]
        bench_dask.main()
        return
    wanted = {name.strip() for name in arguments.only.split(",") if name.strip()}
    if arguments.skip_postgres:
        wanted &= {"sqlite", "dispositions-sqlite", "duckdb", "overhead", "startup"}
    unknown = wanted - set(METHODS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (expected some of {', '.join(METHODS)})")
    folder = tempfile.mkdtemp(prefix="pdip-bench-integrator-")
    count = arguments.rows
    print(f"{count:,} rows x {len(NAMES)} columns, executor: process")

    if "sqlite" in wanted:
        report("SQLite -> SQLite", count, *sqlite_pair(count, folder), "target >= 200%")
    if wanted & {"postgres", "csv", "mariadb", "parquet", "dispositions", "dispositions-mariadb", "parallel"}:
        database = Postgres(count)
        try:
            source = (
                database.table("pdip_bench_source", filled=True)
                if wanted & {"postgres", "mariadb", "parquet", "dispositions", "dispositions-mariadb"}
                else None
            )
            if "postgres" in wanted:
                report("PostgreSQL -> PostgreSQL", count, *postgres_pair(database, source, folder), "target >= 95%")
            if "csv" in wanted:
                for name, baseline, measured, writer in csv_pair(database, count, folder, arguments.rounds):
                    report(name, count, baseline, measured, "target >= 85%")
                    print(f"  (medians of {arguments.rounds} rounds; the writer's CPU {writer:.2f} s)")
            if "mariadb" in wanted:
                reported("PostgreSQL -> MariaDB", count, postgres_to_mariadb(source, folder))
            if "parquet" in wanted:
                parquet_report(count, postgres_to_parquet(database, source, folder, arguments.repeat))
            for method, keyed in (("dispositions", postgres_keyed), ("dispositions-mariadb", mariadb_keyed)):
                if method in wanted:
                    store = keyed(database, source)
                    dispositions_report(store, count, dispositions(store, count, folder, arguments.rounds))
            if "parallel" in wanted:
                for label, one, several in parallel_readers(database, count, folder):
                    report(label, count, one, several, "target >= 100% of one reader")
        finally:
            database.close()
    if "dispositions-sqlite" in wanted:
        store = sqlite_keyed(count, folder)
        dispositions_report(store, count, dispositions(store, count, folder, arguments.rounds))
    if "duckdb" in wanted:
        duckdb_report(count, duckdb_pairs(count, folder, arguments.repeat))
    if "overhead" in wanted:
        print(f"{'integrate() of 10 rows':<28} {fixed_overhead(folder):>10.3f} s        target <= 0.3 s")
    if "startup" in wanted:
        found = startup(folder)
        for name, (median, fastest, used) in found.items():
            target = {"warm integrate()": "target <= 20 ms"}.get(name, "target <= 0.3 s" if "run" in name else "")
            cpu = "" if used is None else f"CPU {used:5.3f} s   "
            print(f"{name:<28} median {median:7.3f} s   fastest {fastest:7.3f} s   {cpu}{target}")
    writer = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{'peak RSS':<28} {writer:>10.0f} MiB writer (this process), {readers:.0f} MiB largest reader process")


if __name__ == "__main__":
    main()
