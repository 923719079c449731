"""Rate limits per client (API key or bearer token), per user, and per address for the
unauthenticated. Rates come from settings.API_THROTTLE_RATES, read on every request so a
deployment (or a test) can change them without reloading classes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from apps.api.authentication import client_id

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)
THROTTLE_CACHE = "api-throttle"


class _ConfiguredRateThrottle(SimpleRateThrottle):
    def __init__(self) -> None:
        # SimpleRateThrottle reads a class-level THROTTLE_RATES captured at import; ours is live.
        self.cache = caches[THROTTLE_CACHE]
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache-backend failure
            # A rate limit protects the service; it must not take it down when its cache is away.
            logger.warning("throttle cache unavailable; %s limit not applied", self.scope, exc_info=True)
            return True


class ClientRateThrottle(_ConfiguredRateThrottle):
    scope = "client"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        client = client_id(request)
        return self.cache_format % {"scope": self.scope, "ident": client} if client else None


class UserRateThrottle(_ConfiguredRateThrottle):
    scope = "user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonymousRateThrottle(_ConfiguredRateThrottle):
    scope = "anonymous"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
