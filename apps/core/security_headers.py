"""Browser security headers beyond Django's own (nosniff, Referrer-Policy, COOP, X-Frame-Options).

- The Content-Security-Policy is django-csp's (settings.CONTENT_SECURITY_POLICY), with the
  site's own websocket origin added to connect-src: CSP level 3 lets 'self' match ws: and
  wss: of the same host, but older browsers need it spelled out.
  Forms may also lead to the identity provider (single sign-on and sign-out redirect there,
  and browsers hold redirects after a form to form-action), so its origin is added too.
- Permissions-Policy turns off browser features the site never uses (settings.PERMISSIONS_POLICY).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()  # checked against ALLOWED_HOSTS: safe to put in a header
        except DisallowedHost:
            return parts
        update = dict(parts.update or {})
        _add(update, "connect-src", [f"{'wss' if request.is_secure() else 'ws'}://{host}"])
        _add(update, "form-action", _identity_provider_origins())
        parts.update = update
        return parts


def _add(directives: dict, name: str, sources: list[str]) -> None:
    if sources:
        present = directives.get(name) or []
        directives[name] = [*([present] if isinstance(present, str) else present), *sources]


def _identity_provider_origins() -> list[str]:
    origins = []
    # The discovered end_session_endpoint is not known here; providers serve it from the origin
    # of their discovery document.
    for name in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_LOGOUT_ENDPOINT", "OIDC_OP_DISCOVERY_ENDPOINT"):
        parts = urlsplit(getattr(settings, name, "") or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(allowed)})" for feature, allowed in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
