from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.accounts.models import User
from apps.accounts.sign_in_limits import sign_in_attempt_begin, sign_in_attempt_succeeded


class PasswordSignInBackend(ModelBackend):
    """Django's username-and-password backend, refusing an account and address (or an
    address) with too many recent failures, whichever form asks (the sign-in page, the
    admin's). PermissionDenied stops Django from trying any other backend."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if request is None or not username:
            return super().authenticate(request, username=username, password=password, **kwargs)
        attempt = sign_in_attempt_begin(username=username, address=request.META.get("REMOTE_ADDR", ""))
        if attempt is None:
            raise PermissionDenied("too many failed sign-ins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            sign_in_attempt_succeeded(attempt)
        return user
