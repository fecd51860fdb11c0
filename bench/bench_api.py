"""Requests per second through pdip's API against the same view in plain Flask, in the same run;
and the CRUD example served for real under load.

    python bench/bench_api.py [--requests 3000] [--rounds 5]
    python bench/bench_api.py cpu [--requests 500] [--rounds 5] [--database-url URL]
    python bench/bench_api.py served [--requests 8000] [--connections 16] [--database-url URL]

1. GET of a trivial controller (returns a small dict) against a plain Flask view returning the
   same dict with `jsonify` (target: pdip >= 70% of plain Flask).
2. POST of a JSON body converted to a DTO and returned, against a plain Flask view doing
   `request.get_json()`, building the dataclass by hand and `jsonify`-ing it.

Each is measured through Flask's test client (what a test suite sees) and by calling the WSGI
application directly with a prepared environ (the framework alone, no client). Rounds alternate
between pdip and Flask and the fastest round of each counts, so a busy machine penalises both
alike. pdip's side runs everything a request runs: a DI scope, the authentication gate (none
configured), the tenant, argument conversion, the controller built by the container, problem
handling and JSON serialisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import tempfile
import textwrap
import time
from pathlib import Path

from flask import Flask, jsonify, request

from pdip import Pdi
from pdip.api import ApiApp

CONTROLLERS = """
    from pdip.api import ControllerBase
    from pdip.cqrs.decorators import dtoclass


    @dtoclass
    class Reading:
        sensor: str
        value: float
        tags: list[str]


    class PingController(ControllerBase):
        def get(self):
            return {"pong": True, "version": 1}


    class ReadingsController(ControllerBase):
        def post(self, reading: Reading) -> Reading:
            return reading
"""

BODY = {"sensor": "t-1", "value": 21.5, "tags": ["lab", "north"]}


@dataclasses.dataclass
class Reading:
    sensor: str
    value: float
    tags: list[str]


def plain_flask() -> Flask:
    app = Flask("plain")

    @app.get("/api/Ping")
    def ping():
        return jsonify({"pong": True, "version": 1})

    @app.post("/api/Readings")
    def readings():
        data = request.get_json()
        return jsonify(dataclasses.asdict(Reading(data["sensor"], data["value"], data["tags"])))

    return app


def pdip_api(folder: Path) -> tuple[Pdi, ApiApp]:
    package = folder / "bench_api_app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "controllers.py").write_text(textwrap.dedent(CONTROLLERS))
    pdi = Pdi(folder, configurations={"API": {"EXECUTIONS": False}, "CQRS": {"LOGGING": False}})
    return pdi, pdi.get(ApiApp)


def client_rate(app: Flask, method: str, path: str, count: int) -> float:
    client = app.test_client()
    call = getattr(client, method)
    options = {"json": BODY} if method == "post" else {}
    started = time.perf_counter()
    for _ in range(count):
        call(path, **options).close()
    return count / (time.perf_counter() - started)


def wsgi_rate(app: Flask, method: str, path: str, count: int) -> float:
    payload = json.dumps(BODY).encode() if method == "post" else b""
    environ = {
        "REQUEST_METHOD": method.upper(),
        "PATH_INFO": path,
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(payload)),
    }

    def start_response(status, headers):
        return None

    started = time.perf_counter()
    for _ in range(count):
        for _chunk in app.wsgi_app({**environ, "wsgi.input": io.BytesIO(payload)}, start_response):
            pass
    return count / (time.perf_counter() - started)


def best_of(rounds: int, measure, pdip_app: Flask, flask_app: Flask) -> tuple[float, float]:
    """The fastest round of each, pdip and Flask measured alternately."""
    pdip_best = flask_best = 0.0
    for _ in range(rounds):
        pdip_best = max(pdip_best, measure(pdip_app))
        flask_best = max(flask_best, measure(flask_app))
    return pdip_best, flask_best


def main() -> None:
    import sys

    if sys.argv[1:2] == ["served"]:
        from bench_api_served import main as served_main

        served_main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["cpu"]:
        from bench_api_cpu import main as cpu_main

        cpu_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    count, rounds = arguments.requests, arguments.rounds

    with tempfile.TemporaryDirectory(prefix="pdip-bench-api-") as folder:
        pdi, api = pdip_api(Path(folder))
        with pdi:
            flask_app = plain_flask()
            for app in (api.app, flask_app):  # same answers before anything is timed
                response = app.test_client().post("/api/Readings", json=BODY)
                assert response.status_code == 200 and response.get_json() == BODY, response.data
                assert app.test_client().get("/api/Ping").get_json() == {"pong": True, "version": 1}
            print(f"{'scenario':<34} {'pdip req/s':>11} {'Flask req/s':>12} {'ratio':>7}")
            for label, method, path in (
                ("GET trivial controller", "get", "/api/Ping"),
                ("POST DTO body", "post", "/api/Readings"),
            ):
                for way, rate in (("test client", client_rate), ("WSGI call", wsgi_rate)):
                    ours, theirs = best_of(
                        rounds,
                        lambda app, rate=rate, method=method, path=path: rate(app, method, path, count),
                        api.app,
                        flask_app,
                    )
                    target = "   target >= 70%" if method == "get" else ""
                    print(f"{label + ', ' + way:<34} {ours:11.0f} {theirs:12.0f} {ours / theirs:6.0%}{target}")


if __name__ == "__main__":
    main()
