"""CPU per request of the CRUD example (examples/crud_api) against a bare Flask app doing the same SQL.

    python bench/bench_api.py cpu [--requests 500] [--rounds 5] [--database-url URL]

Both apps run in this process on PostgreSQL (`--database-url`, else PDIP_TEST_POSTGRES_URL, else
the local default) and are called as WSGI applications with a prepared environ, so what is
timed is the server side of a request without the HTTP server: `time.process_time()` over
`--requests` calls, in rounds that alternate between the two apps; the median round of each
counts. CPU time, unlike requests per second, hardly moves with what else the machine runs.
When PostgreSQL runs on this machine (Linux), the CPU its backends for this database spent per
request is shown too (`db ms`): a round trip costs the server as well as the client.

The bare app is what a careful hand-written Flask service would do: one SQLAlchemy session per
request, the same SELECT (tenant, not deleted, id or page), the same INSERT of the note and of its
change-log entry in one transaction for POST, and `jsonify`. pdip's side adds its DI scope, the
tenant gate, argument conversion and input checks, the dispatcher's pipeline (validation, unit
of work), the repository and the outbox's policy, problem handling and its own serialisation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "crud_api"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TENANT = "bench"


def environ(method: str, path: str, body: bytes = b"", query: str = "") -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_TENANT_ID": TENANT,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }


class Caller:
    """Calls a WSGI app and keeps the statuses it answered, checked after the timing."""

    def __init__(self, app):
        self.app = app
        self.statuses: set[str] = set()

    def __call__(self, method: str, path: str, body: bytes = b"", query: str = "") -> bytes:
        def start_response(status, headers):
            self.statuses.add(status)

        return b"".join(self.app(environ(method, path, body, query), start_response))


def bare_flask(engine, note_type, change_log):
    """The same SQL through Flask and SQLAlchemy, written by hand."""
    import sqlalchemy as sa
    from flask import Flask, jsonify, request
    from sqlalchemy.orm import sessionmaker

    app = Flask("bare")
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    visible = (note_type.TenantId == sa.bindparam("tenant"), note_type.GcRecId.is_(None))
    one = sa.select(note_type).where(*visible, note_type.Id == sa.bindparam("id"))
    page = sa.select(note_type).where(*visible).order_by(note_type.title).limit(sa.bindparam("size"))

    def shown(note):
        created = note.CreateUserTime.isoformat() if note.CreateUserTime else None
        return {"id": str(note.Id), "title": note.title, "body": note.body, "done": note.done,
                "created_at": created, "created_by": note.CreateUserId}  # fmt: skip

    @app.get("/api/Notes/<id>")
    def get_one(id):
        with sessions() as session:
            note = session.scalars(one, {"tenant": request.headers["X-Tenant-Id"], "id": uuid.UUID(id)}).one()
            return jsonify(shown(note))

    @app.get("/api/Notes")
    def get_page():
        size = int(request.args.get("size", 20))
        with sessions() as session:
            notes = session.scalars(page, {"tenant": request.headers["X-Tenant-Id"], "size": size})
            return jsonify([shown(note) for note in notes])

    @app.post("/api/Notes")
    def post():
        data = request.get_json()
        tenant = request.headers["X-Tenant-Id"]
        now = dt.datetime.now(dt.timezone.utc)
        with sessions() as session, session.begin():
            note = note_type(title=data["title"], body=data.get("body", ""), TenantId=tenant, CreateUserTime=now)
            session.add(note)
            session.flush()
            after = json.dumps({"Id": str(note.Id), "title": note.title, "body": note.body, "TenantId": tenant})
            session.execute(
                change_log.insert().values(
                    id=uuid.uuid4().hex,
                    entity=note_type.__tablename__,
                    key=json.dumps(str(note.Id)),
                    action="insert",
                    after=after,
                    tenant=tenant,
                    timestamp=now,
                )
            )
            created = shown(note)
        return jsonify(created), 201

    return app


def cpu_per_request(call, count: int, backends: list[int]) -> tuple[float, float]:
    """Milliseconds of CPU per call: this process's, and the PostgreSQL backends' (`backends`)."""
    started, database_started = time.process_time(), backends_cpu(backends)
    for number in range(count):
        call(number)
    spent, database_spent = time.process_time() - started, backends_cpu(backends) - database_started
    return spent / count * 1000, database_spent / count * 1000


def medians(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    """The median of each column of (process ms, database ms) rounds."""
    return statistics.median(own for own, _ in rounds), statistics.median(database for _, database in rounds)


def database_backends(engine) -> list[int]:
    """The pids of the client backends connected to this database, when they run on this machine."""
    if not os.path.exists("/proc/self/stat"):
        return []
    with engine.connect() as connection:
        pids = connection.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        ).scalars()
        return [pid for pid in pids if os.path.exists(f"/proc/{pid}/stat")]


def backends_cpu(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes `pids` spent so far, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:  # the backend ended (its connection was closed)
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per round (default 500)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("PDIP_TEST_POSTGRES_URL", DEFAULT_URL))
    arguments = parser.parse_args(argv)
    os.environ.update(DATABASE_TYPE="postgresql", DATABASE_CONNECTION_STRING=arguments.database_url)

    with tempfile.TemporaryDirectory(prefix="pdip-bench-cpu-") as folder:
        root = Path(folder) / "crud_api"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
        sys.path.insert(0, str(root))
        from notes.domain import Note

        from pdip import Pdi
        from pdip.api import ApiApp
        from pdip.data import DatabaseSessionManager
        from pdip.data.outbox import CHANGE_LOG

        with Pdi(str(root)) as pdi:
            database = pdi.get(DatabaseSessionManager)
            Note.__table__.drop(database.engine, checkfirst=True)
            database.create_all()
            apps = {"pdip": Caller(pdi.get(ApiApp).app), "Flask": Caller(bare_flask(database.engine, Note, CHANGE_LOG))}
            seeded = json.loads(apps["pdip"]("POST", "/api/Notes", json.dumps({"title": "seed", "body": "x"}).encode()))
            note_url = f"/api/Notes/{seeded['id']}"
            for number in range(30):
                apps["pdip"]("POST", "/api/Notes", json.dumps({"title": f"page {number:02d}"}).encode())
            scenarios = {
                "GET one": lambda call: lambda number: call("GET", note_url),
                "GET page of 20": lambda call: lambda number: call("GET", "/api/Notes", query="size=20"),
                "POST": lambda call: (
                    lambda number: call(
                        "POST", "/api/Notes", json.dumps({"title": f"note {number}", "body": "x" * 64}).encode()
                    )
                ),
            }
            for name, app in apps.items():  # the same answers before anything is timed
                one = json.loads(app("GET", note_url))
                assert one["title"] == "seed" and one["id"] == seeded["id"], (name, one)
                assert len(json.loads(app("GET", "/api/Notes", query="size=20"))) == 20, name
            load = os.getloadavg()[0]
            print(
                f"CPU per request, in-process WSGI calls, PostgreSQL; load average {load:.2f} on {os.cpu_count()} cores"
            )
            header = f"{'pdip ms':>8} {'Flask ms':>9} {'ratio':>6} {'pdip db ms':>11} {'Flask db ms':>12}"
            print(f"{'scenario':<16} {header}")
            for label, scenario in scenarios.items():
                measured: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
                for app in apps.values():
                    cpu_per_request(scenario(app), 20, [])  # warm: prepared statements, caches, the pool
                backends = database_backends(database.engine)
                for _ in range(arguments.rounds):
                    for name, app in apps.items():
                        measured[name].append(cpu_per_request(scenario(app), arguments.requests, backends))
                (ours, our_db), (theirs, their_db) = (medians(measured[name]) for name in apps)
                database_cpu = f"{our_db:11.3f} {their_db:12.3f}" if backends else f"{'-':>11} {'-':>12}"
                print(f"{label:<16} {ours:8.3f} {theirs:9.3f} {ours / theirs:5.2f}x {database_cpu}")
            for name, app in apps.items():
                assert app.statuses <= {"200 OK", "201 CREATED"}, (name, app.statuses)


if __name__ == "__main__":
    main(sys.argv[1:])
