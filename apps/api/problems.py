"""RFC 9457 problem+json: the one place errors become HTTP answers.

Domain errors (apps.core.errors.DomainError and subclasses) map by their `kind`;
Django REST framework's own errors by their class. Each answer has a stable `type`
(`urn:approval-inbox:problem:<code>`), a `title`, the `status`, a human `detail`, the
request path as `instance`, and `errors` (field -> messages) where fields are at fault.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.audit import context as audit_context
from apps.core.errors import DomainError, http_status
from apps.core.problems import PROBLEM_CONTENT_TYPE, problem_body

# DRF's exception classes, most specific first, and the stable code each answers with.
DRF_CODES: tuple[tuple[type[exceptions.APIException], str], ...] = (
    (exceptions.ValidationError, "validation-error"),
    (exceptions.ParseError, "malformed-request"),
    (exceptions.AuthenticationFailed, "authentication-failed"),
    (exceptions.NotAuthenticated, "not-authenticated"),
    (exceptions.PermissionDenied, "permission-denied"),
    (exceptions.NotFound, "not-found"),
    (exceptions.MethodNotAllowed, "method-not-allowed"),
    (exceptions.NotAcceptable, "not-acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported-media-type"),
    (exceptions.Throttled, "throttled"),
)


class ApiProblem(exceptions.APIException):
    """An API-layer error (not a domain one) with its own code, e.g. a reused Idempotency-Key."""

    def __init__(
        self, detail: str, *, status_code: int, code: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.problem_code = code
        self.errors = errors or {}


def problem_response(
    *,
    status_code: int,
    code: str,
    detail: str,
    request: Any = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(
        status_code=status_code,
        code=code,
        detail=detail,
        instance=None if request is None else request.path,
        errors=errors,
    )
    request_id = audit_context.current().request_id
    if request_id:
        body["request_id"] = request_id
    browsing = getattr(getattr(request, "accepted_renderer", None), "format", "json") == "api"
    return Response(
        body, status=status_code, headers=headers, content_type=None if browsing else PROBLEM_CONTENT_TYPE
    )


def _field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"data.amount": ["..."], "non_field_errors": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            flat.update(_field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and detail and all(not isinstance(item, dict | list) for item in detail):
        flat[prefix or "non_field_errors"] = [str(item) for item in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            flat.update(_field_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    elif detail:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def _summary(errors: dict[str, list[str]]) -> str:
    first_field, messages = next(iter(errors.items()))
    more = f" (and {len(errors) - 1} more field(s))" if len(errors) > 1 else ""
    where = "" if first_field == "non_field_errors" else f"{first_field}: "
    return f"The request is not valid. {where}{messages[0]}{more}"


def problem_for(exc: Exception, request: Any = None) -> Response | None:
    """The problem+json answer for `exc`, or None for an unexpected error (a real 500)."""
    if isinstance(exc, DomainError):
        status_code = http_status(exc)
        errors = {key: value if isinstance(value, list) else [value] for key, value in exc.errors.items()}
        return problem_response(
            status_code=status_code, code=exc.code, detail=exc.detail, request=request, errors=errors
        )
    if isinstance(exc, ApiProblem):
        return problem_response(
            status_code=exc.status_code,
            code=exc.problem_code,
            detail=str(exc.detail),
            request=request,
            errors=exc.errors,
        )
    if isinstance(exc, RequestDataTooBig):
        return problem_response(
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            code="request-too-large",
            detail="The request body is larger than this API accepts.",
            request=request,
        )
    if isinstance(exc, SuspiciousOperation):
        return problem_response(
            status_code=400, code="malformed-request", detail="The request is malformed.", request=request
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    code = next((code for cls, code in DRF_CODES if isinstance(exc, cls)), "error")
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        detail = _summary(errors) if errors else "The request is not valid."
        return problem_response(status_code=400, code=code, detail=detail, request=request, errors=errors)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return problem_response(
        status_code=exc.status_code, code=code, detail=str(detail), request=request, headers=headers
    )


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER (settings.REST_FRAMEWORK)."""
    request = context.get("request")
    response = problem_for(exc, request)
    auth_header = getattr(exc, "auth_header", None)
    if response is not None and auth_header:
        # DRF names the expected credentials on a 401 (set by APIView.handle_exception).
        response["WWW-Authenticate"] = auth_header
    return response
