"""Staff sign in to the browser through the organisation's OpenID Connect provider.

The provider's claims make the user (username from `preferred_username`, else `sub`) and,
through OIDC_ROLE_MAP, their roles; apps.accounts.services.user_sync_from_identity does the
writing. The /oidc/ URLs always exist but answer 404 until a provider is configured, so the
URL conf does not depend on settings read at import time.

API bearer tokens are checked against the provider's userinfo endpoint; its answer is kept for
OIDC_USERINFO_CACHE_SECONDS (never past the token's expiry) under a hash of the token, and the
local account is read on every request, so a deactivated person is refused at once. Sign-out
ends the provider's session too where the provider offers an end_session_endpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.accounts.models import User
from apps.accounts.services import user_sync_from_identity

logger = logging.getLogger(__name__)

USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length


def sso_configured() -> bool:
    """Browser sign-in needs the whole authorization-code flow, not only the userinfo endpoint
    the API's bearer tokens use."""
    return all(
        getattr(settings, name, "")
        for name in (
            "OIDC_RP_CLIENT_ID",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
        )
    )


def identity_username(claims: dict[str, Any]) -> str:
    value = claims.get("preferred_username") or claims.get("sub") or ""
    return value.strip() if isinstance(value, str) else ""


def _claim_text(claims: dict[str, Any], name: str, max_length: int) -> str:
    value = claims.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def _claimed_groups(claims: dict[str, Any]) -> list[str]:
    # Providers send a list; a few send one group as a plain string.
    value = claims.get(settings.OIDC_ROLES_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """Finds staff by username (not by email, as the library does: emails change and repeat)."""

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if not sso_configured():
            return None
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        username = identity_username(claims)
        return bool(username) and len(username) <= USERNAME_MAX_LENGTH

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username=identity_username(claims))

    def get_userinfo(self, access_token: str, id_token: str | None, payload: dict[str, Any] | None) -> Any:
        if id_token is not None:
            # The browser's sign-in: a token just issued, asked about once.
            return super().get_userinfo(access_token, id_token, payload)
        key = _userinfo_cache_key(access_token)
        claims = cache.get(key)
        if claims is None:
            claims = super().get_userinfo(access_token, id_token, payload)
            seconds = _userinfo_cache_seconds(access_token, claims)
            if seconds >= 1:
                cache.set(key, claims, seconds)
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User | None:
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation(
                "The identity provider sent no usable username (preferred_username or sub)."
            )
        return user_sync_from_identity(
            username=identity_username(claims),
            email=_claim_text(claims, "email", 254),
            first_name=_claim_text(claims, "given_name", 150),
            last_name=_claim_text(claims, "family_name", 150),
            claimed_groups=_claimed_groups(claims),
            role_map=settings.OIDC_ROLE_MAP,
        )


def _userinfo_cache_key(access_token: str) -> str:
    # A hash, never the token: whoever reads the cache must not be able to call the API with it.
    return f"oidc-userinfo:{hashlib.sha256(access_token.encode()).hexdigest()}"


def _userinfo_cache_seconds(access_token: str, claims: Any) -> int:
    """OIDC_USERINFO_CACHE_SECONDS, cut short by the token's expiry: the `exp` of a JWT access
    token (read, not verified: it may only shorten the wait), else an `exp` claim in userinfo."""
    seconds = float(settings.OIDC_USERINFO_CACHE_SECONDS)
    expiry = None
    with contextlib.suppress(jwt.InvalidTokenError):  # an opaque token has no `exp` to read
        expiry = jwt.decode(access_token, options={"verify_signature": False}).get("exp")
    if expiry is None and isinstance(claims, dict):
        expiry = claims.get("exp")
    if isinstance(expiry, int | float) and not isinstance(expiry, bool):
        seconds = min(seconds, expiry - time.time())
    return int(seconds)


def provider_end_session_endpoint() -> str:
    """Where the provider ends its own session (RP-Initiated Logout), or "" when it has no such
    endpoint or its discovery document cannot be read now (sign-out is then local only)."""
    if settings.OIDC_OP_LOGOUT_ENDPOINT:
        return settings.OIDC_OP_LOGOUT_ENDPOINT
    discovery = settings.OIDC_OP_DISCOVERY_ENDPOINT
    if not discovery:
        return ""
    key = f"oidc-discovery:{hashlib.sha256(discovery.encode()).hexdigest()}"
    document = cache.get(key)
    if document is None:
        try:
            response = requests.get(discovery, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            logger.warning("the identity provider's discovery document could not be read: %s", exc)
            return ""
        if not isinstance(document, dict):
            return ""
        cache.set(key, document, settings.OIDC_DISCOVERY_CACHE_SECONDS)
    endpoint = document.get("end_session_endpoint")
    parts = urlsplit(endpoint if isinstance(endpoint, str) else "")
    return endpoint if parts.scheme in ("http", "https") and parts.netloc else ""


def provider_sign_out_url(request: HttpRequest) -> str | None:
    """The provider's end-session URL for this session, or None: the session was not signed in
    through the provider, or the provider ends no sessions."""
    id_token = request.session.get("oidc_id_token")
    if not id_token or not sso_configured():
        return None
    endpoint = provider_end_session_endpoint()
    if not endpoint:
        return None
    back = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": back, "client_id": settings.OIDC_RP_CLIENT_ID}
    )
    return f"{endpoint}{'&' if urlsplit(endpoint).query else '?'}{query}"


class SignOutView(LogoutView):
    """Django's sign-out; a person who signed in through the provider is then sent to it to end
    their session there as well, and it sends them back to the sign-in page."""

    provider_url: str | None = None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.provider_url = provider_sign_out_url(request)  # before the session is flushed
        return super().post(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return self.provider_url or super().get_success_url()


def _only_when_configured(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not sso_configured():
            raise Http404("Single sign-on is not configured.")
        return view(request, *args, **kwargs)

    return guarded


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """Any failure (refused at the provider, unknown state, bad token) goes back to the sign-in
    page with a notice, never to an error page."""

    @property
    def failure_url(self) -> str:
        return f"{reverse('login')}?sso=failed"

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().get(request)
        except (SuspiciousOperation, jwt.InvalidTokenError, requests.RequestException) as exc:
            # A forged or replayed callback, a token the provider refuses, an unreachable provider.
            logger.warning("single sign-on refused: %s", exc)
            return HttpResponseRedirect(self.failure_url)


sign_in_start = _only_when_configured(OIDCAuthenticationRequestView.as_view())
sign_in_callback = _only_when_configured(SignInCallbackView.as_view())
