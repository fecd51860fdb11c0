"""Run history pages: server-rendered HTML over the execution records, for people.

    GET /runs                          executions, newest first (?operation=, ?status=, ?limit=)
    GET /runs/<execution id>           each integration: throughput chart, counts, errors, schema
                                       changes, dead letters (?integration=&page= pages them)
    GET /runs/<execution id>/events    the execution's Server-Sent Events, which keep the page live

`pdip api` serves them (`API.RUNS`); any Flask application can mount them with
`app.register_blueprint(runs_blueprint(lambda: pdi.get(ExecutionRunner)), url_prefix="/ops")`.
Jinja2 escapes everything the templates show (a dead letter's row is whatever the source held);
the page's script is a static file, so the Content-Security-Policy allows no inline script.
Charts are drawn by uPlot (vendored under static/uplot, MIT) from the throughput samples kept
with each execution (`pdip.integrator.throughput`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for

from pdip.api.errors import NotFoundError
from pdip.api.executions import ExecutionRunner, ExecutionView, IntegrationCounts
from pdip.conversion.tagged import dumps
from pdip.integrator.history import COUNTS, summary
from pdip.integrator.throughput import joined

PAGE_SIZE = 50  # dead letters per page
MAX_LISTED = 500
STATUSES = ("running", "finished", "failed", "interrupted")
LIVE = ("pending", "running")
POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
HERE = Path(__file__).parent


def runs_blueprint(runner: Callable[[], ExecutionRunner], name: str = "pdip_runs") -> Blueprint:
    """The pages, at `/runs` unless registered with another `url_prefix`; `runner` gives the
    application's `ExecutionRunner` when a page is asked for."""
    pages = Blueprint(
        name,
        __name__,
        url_prefix="/runs",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )

    @pages.get("")
    def runs() -> Response:
        return _page("pdip_runs/runs.html", **_listing(runner(), request.args))

    @pages.get("/<execution_id>")
    def run(execution_id: str) -> Response:
        return _page("pdip_runs/run.html", **_details(runner(), execution_id, request.args))

    @pages.get("/<execution_id>/events")
    def events(execution_id: str) -> Response:
        after = request.headers.get("Last-Event-ID", "").strip()
        stream = runner().events(execution_id, int(after) if after.isdigit() else -1)
        return Response(stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @pages.errorhandler(NotFoundError)
    def unknown(error: NotFoundError) -> Response:
        return Response(error.detail, status=404, mimetype="text/plain")

    return pages


def _page(template: str, **context: Any) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- /runs ----------------------------------------------------------------------------------------


def _listing(runner: ExecutionRunner, arguments: Any) -> dict[str, Any]:
    operation = arguments.get("operation") or None
    status = arguments.get("status") or None
    limit = _number(arguments.get("limit"), 50, MAX_LISTED)
    state = runner.integrator.state
    records = state.executions(limit, operation, status)
    return {
        "executions": [_listed(record) for record in records],
        "operations": state.operations(),
        "statuses": STATUSES,
        "chosen": {"operation": operation, "status": status, "limit": limit},
    }


def _listed(record: dict[str, Any]) -> dict[str, Any]:
    integrations = list(summary(record).values())
    totals = {name: sum(item.get(name, 0) for item in integrations) for name in COUNTS}
    finished = record["finished_at"]
    return {
        "execution_id": record["execution_id"],
        "operation": record["operation"],
        "status": record["status"],
        "started": _time(record["started_at"]),
        "seconds": None if finished is None else (finished - record["started_at"]).total_seconds(),
        "counted": bool(integrations),
        **totals,
        "samples": joined(integrations),
    }


# -- /runs/<id> -----------------------------------------------------------------------------------


def _details(runner: ExecutionRunner, execution_id: str, arguments: Any) -> dict[str, Any]:
    view = runner.execution(execution_id)  # NotFoundError: 404
    state = runner.integrator.state
    record = state.execution(execution_id)
    stored = summary(record) if record is not None else {}
    counts = state.dead_letter_counts(execution_id)
    paged = arguments.get("integration")
    page = _number(arguments.get("page"), 1, 1_000_000)
    integrations = [
        _integration(item, stored.get(item.name, {}), counts.get(item.name, 0)) for item in view.integrations
    ]
    for integration in integrations:
        integration["letters"] = _letters(
            state, execution_id, integration["name"], integration["stored"], page if paged == integration["name"] else 1
        )
    live = view.status in LIVE
    return {
        "view": view,
        "started": _time(view.started_at) if view.started_at else "-",
        "seconds": _seconds(view),
        "integrations": integrations,
        "events": url_for(".events", execution_id=execution_id) if live else None,
    }


def _integration(item: IntegrationCounts, stored: dict[str, Any], letters: int) -> dict[str, Any]:
    """What the page shows of an integration: its counts (live while it runs), and from its stored
    summary its seconds, schema changes and throughput samples."""
    return {
        "name": item.name,
        "status": item.status,
        "rows_read": item.rows_read,
        "rows_written": item.rows_written,
        "rows_dead_lettered": item.rows_dead_lettered,
        "seconds": stored.get("seconds"),
        "error": item.error,
        "reference": item.reference,
        "schema_changes": stored.get("schema_changes") or [],
        "values_discarded": stored.get("values_discarded") or {},
        "samples": stored.get("throughput") or [],
        "stored": letters,
    }


def _letters(state: Any, execution_id: str, integration: str, stored: int, page: int) -> dict[str, Any]:
    """One page of an integration's dead letters, and the links to the pages around it."""
    pages = max(1, math.ceil(stored / PAGE_SIZE))
    page = min(page, pages)
    found = state.dead_letters(execution_id, integration, PAGE_SIZE, (page - 1) * PAGE_SIZE) if stored else []

    def link(number: int) -> str | None:
        if not 1 <= number <= pages or number == page:
            return None
        anchor = f"dead-letters-{integration}"
        return url_for(".run", execution_id=execution_id, integration=integration, page=number, _anchor=anchor)

    rows = [
        {
            "number": (page - 1) * PAGE_SIZE + index + 1,
            "reason": letter["reason"],
            "position": "-" if letter["position"] is None else dumps(letter["position"]),
            "row": dumps(letter["row"]),
        }
        for index, letter in enumerate(found)
    ]
    return {"rows": rows, "page": page, "pages": pages, "previous": link(page - 1), "next": link(page + 1)}


# -- helpers --------------------------------------------------------------------------------------


def _number(text: str | None, default: int, highest: int) -> int:
    """A whole number from the query string within 1..highest; `default` when absent or not one."""
    if text is None or not text.strip().isdigit():
        return default
    return max(1, min(int(text), highest))


def _time(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(view: ExecutionView) -> float | None:
    if view.started_at is None or view.finished_at is None:
        return None
    return (view.finished_at - view.started_at).total_seconds()
