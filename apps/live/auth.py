"""Who a websocket is: the browser's session (Channels' AuthMiddlewareStack), or for API
clients an `Authorization: Api-Key <key>` or `Bearer <token>` header, resolved exactly as
the REST API resolves them (apps.accounts; OIDC through settings.OIDC_DRF_AUTH_BACKEND)."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from apps.accounts.selectors import api_key_user

logger = logging.getLogger(__name__)


def _authorization(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return value.decode("latin-1")
    return None


def user_from_authorization(header: str) -> Any:
    """The active user behind an Api-Key or Bearer header, or AnonymousUser."""
    keyword, _space, credential = header.strip().partition(" ")
    credential = credential.strip()
    if not credential or " " in credential:
        return AnonymousUser()
    if keyword.lower() == "api-key":
        found = api_key_user(raw_key=credential)
        return found[0] if found else AnonymousUser()
    if keyword.lower() == "bearer" and settings.API_OIDC_ENABLED:
        from mozilla_django_oidc.contrib.drf import get_oidc_backend

        try:
            user = get_oidc_backend().get_or_create_user(credential, None, None)
        except Exception as error:  # the provider refused the token or is unreachable
            logger.info("websocket bearer token refused: %s", error)
            return AnonymousUser()
        return user if user is not None and user.is_active else AnonymousUser()
    return AnonymousUser()


class HeaderAuthMiddleware(BaseMiddleware):
    """A valid Authorization header decides the user (over any session cookie); an invalid
    one leaves the socket anonymous, so the consumer refuses it."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        header = _authorization(scope)
        if header is not None:
            scope = {
                **scope,
                "user": await database_sync_to_async(user_from_authorization)(header),
                "auth_header": True,
            }
        return await super().__call__(scope, receive, send)


def origin_checked_unless_header_auth(application: Any) -> Any:
    """Browsers (cookies) must come from an allowed host, or another site's page could open
    a socket as its visitor. A client that sends its own credential in a header is no such
    risk and often sends no Origin at all."""
    validated = AllowedHostsOriginValidator(application)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if _authorization(scope) is not None:
            return await application(scope, receive, send)
        return await validated(scope, receive, send)

    return app
