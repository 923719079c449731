"""Staff sign in to the browser through the organisation's OpenID Connect provider.

The provider's claims make the user (username from `preferred_username`, else `sub`) and,
through OIDC_ROLE_MAP, their roles; apps.accounts.services.user_sync_from_identity does the
writing. The /oidc/ URLs always exist but answer 404 until a provider is configured, so the
URL conf does not depend on settings read at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
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
