from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.accounts.models import User
from apps.accounts.sign_in_limits import sign_in_blocked


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
        address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
        if request is not None and username and sign_in_blocked(username=username, address=address):
            raise PermissionDenied("too many failed sign-ins")
        return super().authenticate(request, username=username, password=password, **kwargs)
