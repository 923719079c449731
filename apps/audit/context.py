"""Who is acting and from where, for the audit events a request or job writes.

Set by AuditContextMiddleware for web requests, by the API authentication for API keys,
and by workers for system jobs; read only by apps.audit.services.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    source_ip: str | None = None
    # "user" for a person in the browser, "api_client" for a machine with an API key.
    actor_type: str = "user"


_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "audit_context",
    default=AuditContext(),  # noqa: B039 (a frozen dataclass: immutable)
)


def current() -> AuditContext:
    return _current.get()


@contextmanager
def bound(**changes: object) -> Iterator[AuditContext]:
    token = _current.set(replace(_current.get(), **changes))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_for_request(context: AuditContext) -> contextvars.Token[AuditContext]:
    return _current.set(context)


def reset(token: contextvars.Token[AuditContext]) -> None:
    _current.reset(token)


def mark_api_client() -> None:
    """Called by API-key authentication: the rest of the request acts as a machine client."""
    _current.set(replace(_current.get(), actor_type="api_client"))
