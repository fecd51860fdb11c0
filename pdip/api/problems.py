"""Any exception raised while serving a request, as a problem-details response.

What the caller learns is chosen here, once: a 4xx says what to fix; a 500 says only that the
request failed, with a reference that finds the logged traceback. Exception messages of
undeclared errors never reach the response, since they may hold SQL, paths or secrets.
"""

from __future__ import annotations

import traceback
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Response

from pdip.api.errors import ApiError, class_path, declared_status, declared_title, shown_value
from pdip.api.responses import problem, problem_response
from pdip.policy.secrets import mask_sql_literals

_GENERIC_DETAIL = "The request could not be completed; the error is logged under the reference given."


class ProblemMapper:
    """Turns exceptions into problem responses for one application.

    Args:
        error_status: `API.ERROR_STATUS`, "module:Class" -> status.
        envelope: add `IsSuccess: false` and `Message` for envelope clients.
        logger: a function returning the logger that records 500s (resolved on first use).
        max_body_bytes: named in the 413 detail.
    """

    def __init__(
        self,
        error_status: Mapping[str, int],
        envelope: bool,
        logger: Callable[[], Any],
        max_body_bytes: int | None = None,
    ):
        self.error_status = dict(error_status)
        self.envelope = envelope
        self._logger = logger
        self.max_body_bytes = max_body_bytes

    def response(self, error: BaseException, action_code: types.CodeType | None = None) -> Response:
        """The response for `error`; `action_code` is the controller method's code, when known."""
        document, headers = self.document(error, action_code)
        return problem_response(document, headers, self.envelope)

    def document(self, error: BaseException, action_code: types.CodeType | None = None) -> tuple[dict, dict]:
        instance = request.path
        if isinstance(error, ApiError):
            return problem(
                error.status, error.detail, title=error.title, instance=instance, errors=error.errors
            ), error.headers
        if isinstance(error, HTTPException):
            return self._http(error, instance)
        status = declared_status(error, self.error_status)
        if status is not None and status < 500:
            return problem(
                status, _declared_detail(error), title=declared_title(error), instance=instance, errors=_errors(error)
            ), {}
        if status is None and _is_bad_arguments(error, action_code):
            return problem(400, f"the request does not fit: {_without_init(str(error))}", instance=instance), {}
        return self._server_error(error, status or 500, instance), {}

    def _http(self, error: HTTPException, instance: str) -> tuple[dict, dict]:
        status = error.code or 500
        headers: dict[str, str] = {}
        if isinstance(error, NotFound):
            detail = f"nothing is served at {instance}"
        elif isinstance(error, MethodNotAllowed):
            allowed = ", ".join(sorted(error.valid_methods or ()))
            detail = f"{request.method} is not served at {instance}; allowed: {allowed}"
            headers["Allow"] = allowed
        elif isinstance(error, RequestEntityTooLarge):
            limit = f" of {self.max_body_bytes} bytes" if self.max_body_bytes else ""
            detail = f"the request body is larger than the limit{limit}"
        else:
            detail = error.description
        return problem(status, detail, instance=instance), headers

    def _server_error(self, error: BaseException, status: int, instance: str) -> dict:
        reference = uuid.uuid4().hex
        log_failure(self._logger(), error, "%s %s failed", request.method, instance, reference=reference)
        return problem(status, _GENERIC_DETAIL, instance=instance, reference=reference)


def log_failure(logger: Any, error: BaseException, message: str, *args: Any, **fields: Any) -> None:
    """Log `error` with its traceback as fields, masked: a password inside a connection string
    in the message (a driver's error, say) and a literal compared with a secret-looking column
    in quoted SQL are written as ***."""
    formatted = mask_sql_literals("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    described = mask_sql_literals(f"{class_path(type(error))}: {error}")
    logger.error(message, *args, error=described, traceback=formatted, **fields)


def _declared_detail(error: BaseException) -> str:
    """What a declared error tells the caller; pdip's own errors say only what is safe."""
    path = class_path(type(error))
    if path == "pdip.data.errors:TenantMismatchError":
        return "the row belongs to another tenant"
    if path == "pdip.data.errors:ConstraintViolationError":
        constraint = getattr(error, "constraint", None)
        named = f" constraint {constraint}" if constraint else " a constraint"
        return f"{getattr(error, 'entity', 'the entity')} violates{named}"
    if path == "pdip.cqrs.errors:ValidationError":
        return f"{error.subject} is invalid"
    return str(error)


def _errors(error: BaseException) -> list[dict[str, str]] | None:
    """Per-field problems of a ValidationError, values of secret-looking fields masked."""
    problems = getattr(error, "problems", None)
    if class_path(type(error)) != "pdip.cqrs.errors:ValidationError" or not problems:
        return None
    return [{"field": item.path, "message": item.detail(shown_value)} for item in problems]


def _is_bad_arguments(error: BaseException, action_code: types.CodeType | None) -> bool:
    """A TypeError about arguments raised by the action itself (`Command(**body)` with a wrong
    body) is the caller's mistake; one raised deeper is a bug and stays a 500."""
    if not isinstance(error, TypeError) or action_code is None or "argument" not in str(error):
        return False
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_code is action_code


def _without_init(message: str) -> str:
    return message.replace(".__init__()", "")
