"""The shape of an RFC 9457 problem+json answer, shared by the API's error handler
(apps.api.problems) and the server-error view (apps.core.error_views), which answers API
requests before and outside Django REST framework."""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:approval-inbox:problem:"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem_body(
    *,
    status_code: int,
    code: str,
    detail: str,
    instance: str | None = None,
    errors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{code}",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body
