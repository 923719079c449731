"""The domain error family, and the one mapping from an error to an HTTP status.

Every service raises these; the API (apps.api.problems) and the pages (apps.inbox.views)
turn them into answers through `http_status`, so a refusal means the same everywhere.
Each error carries a stable `code` (the last part of a problem+json `type`) and a `kind`:
invalid (400), not_found (404), forbidden (403), conflict (409), precondition_failed (412),
unprocessable (422).

Outside the family, `unavailable_retry_after` says which failures mean "the database cannot be
reached now" (503 with Retry-After, apps.core.error_views) rather than a fault of ours (500).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError

KIND_STATUS = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "precondition_failed": 412,
    "unprocessable": 422,
}


class DomainError(Exception):
    code = "domain-error"
    kind = "invalid"

    def __init__(self, detail: str, *, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


def http_status(error: DomainError) -> int:
    """The HTTP status a domain error answers with, in the API and on the pages alike."""
    return KIND_STATUS.get(error.kind, 400)


def unavailable_retry_after(error: BaseException | None) -> int | None:
    """Seconds a client should wait before trying again when `error` is the database being out
    of reach (down, restarting, the connection cut: OperationalError, or InterfaceError for a
    connection already closed); None for every other error. Whatever the request was writing
    went with its transaction, so the same request may simply be sent again."""
    while error is not None:
        if isinstance(error, OperationalError | InterfaceError):
            return settings.SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS
        error = error.__cause__ or error.__context__
    return None


# --- Processes (the engine) -----------------------------------------------------------------------


class UnknownProcessKind(DomainError):
    code = "unknown-process-kind"
    kind = "invalid"


class InvalidProcessData(DomainError):
    code = "invalid-process-data"
    kind = "invalid"


class DuplicateBusinessKey(DomainError):
    code = "duplicate-business-key"
    kind = "conflict"


class TransitionNotAllowed(DomainError):
    code = "transition-not-allowed"
    kind = "conflict"


# --- Anything: reach, existence, concurrency ---------------------------------------------------------


class NotPermitted(DomainError):
    code = "not-permitted"
    kind = "forbidden"


class NotFound(DomainError):
    code = "not-found"
    kind = "not_found"


class StaleVersion(DomainError):
    code = "stale-version"
    kind = "precondition_failed"


# --- Human tasks ------------------------------------------------------------------------------------


class TaskConflict(DomainError):
    """Someone else holds or has just taken the task."""

    code = "task-conflict"
    kind = "conflict"


class TaskClosed(DomainError):
    code = "task-closed"
    kind = "conflict"


class InvalidDecision(DomainError):
    code = "invalid-decision"
    kind = "invalid"


class DecisionRefused(DomainError):
    """The step's decision policy (four-eyes, separation of duties, requester-only) says no."""

    code = "decision-policy"
    kind = "forbidden"


# --- Webhooks -------------------------------------------------------------------------------------


class InvalidWebhookEndpoint(DomainError):
    """A subscription that cannot be kept: an unknown event type or process kind, a URL we
    would never send to."""

    code = "invalid-webhook-endpoint"


class InvalidInput(DomainError):
    """What a person sent cannot be stored as it is (a comment, an attachment, a saved view)."""

    code = "invalid-input"
    kind = "invalid"
