"""Domain errors of the workflow engine.

Each carries a stable `code` (the last part of a problem+json `type`) and a `kind` that the
API and UI translate to HTTP in one place: invalid (400/422), not_found (404),
forbidden (403), conflict (409), precondition_failed (412).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain-error"
    kind = "invalid"

    def __init__(self, detail: str, *, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


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


class NotPermitted(DomainError):
    code = "not-permitted"
    kind = "forbidden"


class NotFound(DomainError):
    code = "not-found"
    kind = "not_found"


class StaleVersion(DomainError):
    code = "stale-version"
    kind = "precondition_failed"
