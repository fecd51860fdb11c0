"""`/metrics`: the integrator's run metrics in the Prometheus text format (`pdip.integrator.metrics`).

Counted by a subscriber of the API's `Integrator` from the moment the application is built, so
they cover the runs this API starts. Under `pdip api`'s gunicorn every worker counts into one
shared folder (prometheus-client's multiprocess mode), and any worker answers for all of them.
Without prometheus-client (the `metrics` extra) the route answers 501 saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response

from pdip.api.errors import ApiError


def metrics_view(integrator: Any, checked: Callable[[], Response | None]) -> Callable[[], Response]:
    """The view: `checked()` first (the credential), then the metrics; they count from now on."""
    try:
        from prometheus_client import CONTENT_TYPE_LATEST

        from pdip.integrator.metrics import RunMetrics
    except ImportError as error:
        missing = str(error)

        def unavailable() -> Response:
            refused = checked()
            if refused is not None:
                return refused
            detail = f"/metrics needs prometheus-client: pip install 'pdip[metrics]' ({missing})"
            raise ApiError(detail, status=501, title="Metrics not installed")

        return unavailable
    metrics = RunMetrics().attach(integrator)

    def exposition() -> Response:
        refused = checked()
        if refused is not None:
            return refused
        return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    return exposition
