"""Rate limits per client (API key or bearer token), per user, and per address for the
unauthenticated: sliding windows kept by apps.core.rate_limits (atomic in Redis across web
processes). Rates come from settings.API_THROTTLE_RATES, read on every request so a
deployment (or a test) can change them without reloading classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.api.authentication import client_id
from apps.core.rate_limits import RateLimit, rate_limit_hit

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _ConfiguredRateThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._retry_after: float | None = None

    def ident(self, request: Request) -> str | None:
        """Who this throttle counts the request against; None when it does not apply."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        rate = settings.API_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return True
        decision = rate_limit_hit(key=f"api:{self.scope}:{ident}", limit=RateLimit.parse(rate))
        self._retry_after = None if decision.allowed else decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        # DRF's Throttled turns this into the 429's Retry-After (apps/api/problems.py rounds it up).
        return self._retry_after


class ClientRateThrottle(_ConfiguredRateThrottle):
    scope = "client"

    def ident(self, request: Request) -> str | None:
        return client_id(request)


class UserRateThrottle(_ConfiguredRateThrottle):
    scope = "user"

    def ident(self, request: Request) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return str(request.user.pk)


class AnonymousRateThrottle(_ConfiguredRateThrottle):
    scope = "anonymous"

    def ident(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)
