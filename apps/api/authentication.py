"""API-key authentication (`Authorization: Api-Key <key>` acts as the key's user) and OIDC
bearer tokens (`Authorization: Bearer <token>`, the same people as the browser's single sign-on)."""

from __future__ import annotations

import hashlib
from typing import Any

from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.models import ApiKey, User
from apps.accounts.selectors import api_key_user
from apps.accounts.services import api_key_note_use
from apps.audit.context import mark_api_client

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Returns (user, api_key) for a valid key, None when the header is not an API key,
    and refuses (401) a malformed, unknown or revoked one."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Api-Key header takes exactly one key.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        found = api_key_user(raw_key=raw_key)
        if found is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        user, api_key = found
        api_key_note_use(api_key=api_key)
        mark_api_client()
        return user, api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


def client_id(request: Any) -> str | None:
    """What the per-client throttle counts as one client: an API key or an OIDC bearer token.
    A browser session is no client of its own; the per-user throttle covers it."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return f"key:{auth.pk}"
    if isinstance(auth, str) and auth:
        return f"token:{hashlib.sha256(auth.encode()).hexdigest()[:32]}"
    return None


class BearerTokenAuthentication(OIDCAuthentication):
    """mozilla-django-oidc's bearer tokens, resolved by settings.OIDC_DRF_AUTH_BACKEND (by
    default the browser's StaffOIDCBackend: same username, same role sync), refusing
    deactivated accounts as the browser sign-in does."""

    def authenticate(self, request: Request) -> tuple[User, str] | None:
        result = super().authenticate(request)
        if result is not None and not result[0].is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        return result
