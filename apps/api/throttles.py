"""Rate limits per client (API key or bearer token), per user, and per address for the
unauthenticated: sliding windows kept by apps.core.rate_limits (atomic in Redis across web
processes). Rates come from settings.API_THROTTLE_RATES, read on every request so a
deployment (or a test) can change them without reloading classes.

One throttle checks every limit that applies to a request in one Redis round trip
(rate_limits_hit), each window counting as DRF's separate throttles did: a request refused
by one limit still counts against the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.api.authentication import client_id
from apps.core.rate_limits import RateLimit, rate_limits_hit

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ApiRateThrottle(BaseThrottle):
    """The "client" limit per API key or bearer token, the "user" limit per person over all
    their clients, and the "anonymous" limit per address for requests with no user."""

    def __init__(self) -> None:
        self._retry_after: float | None = None

    def windows(self, request: Request) -> list[tuple[str, RateLimit]]:
        """(key, limit) of each limit that applies to `request`."""
        rates = settings.API_THROTTLE_RATES
        user = request.user
        if user and user.is_authenticated:
            idents = {"client": client_id(request), "user": str(user.pk)}
        else:
            idents = {"anonymous": self.get_ident(request)}
        return [
            (f"api:{scope}:{ident}", RateLimit.parse(rates[scope]))
            for scope, ident in idents.items()
            if ident is not None and rates.get(scope)
        ]

    def allow_request(self, request: Request, view: APIView) -> bool:
        windows = self.windows(request)
        if not windows:
            return True
        decision = rate_limits_hit(windows=windows)
        self._retry_after = None if decision.allowed else decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        # DRF's Throttled turns this into the 429's Retry-After (apps/api/problems.py rounds it up).
        return self._retry_after
