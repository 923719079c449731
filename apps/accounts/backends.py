from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.accounts.models import User
from apps.accounts.sign_in_limits import sign_in_attempt_begin, sign_in_attempt_succeeded
from apps.core.compiled import STAND_IN_ID, values_compiled


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

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """Django's answer (the person's own permissions and their groups'), read in one
        UNION query instead of two, built once per process: nearly every page and API call
        asks one has_perm question (is this person an auditor?), so the second round trip,
        and building the union, were on every request."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                rows = Permission.objects.values_list("content_type__app_label", "codename")
            else:
                rows = values_compiled(
                    "permissions of a person", _permissions_of_stand_in, {STAND_IN_ID: user_obj.pk}
                )
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache


def _permissions_of_stand_in() -> Any:
    own = Permission.objects.filter(user__pk=STAND_IN_ID)
    through_groups = Permission.objects.filter(group__user__pk=STAND_IN_ID)
    return (
        own.values_list("content_type__app_label", "codename")
        .order_by()
        .union(through_groups.values_list("content_type__app_label", "codename").order_by())
    )
