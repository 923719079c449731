from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.accounts.oidc import sso_configured


def single_sign_on(request: HttpRequest) -> dict[str, Any]:
    """Whether the sign-in page offers the identity provider's button."""
    return {"sso_enabled": sso_configured()}
