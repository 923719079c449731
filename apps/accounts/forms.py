from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from apps.accounts.sign_in_limits import sign_in_blocked


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying plainly when too many attempts failed (the
    PasswordSignInBackend refuses them for every form; this one explains)."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        address = self.request.META.get("REMOTE_ADDR", "") if self.request is not None else ""
        if username and sign_in_blocked(username=username, address=address):
            minutes = max(1, settings.SIGN_IN_FAILURE_WINDOW_SECONDS // 60)
            raise forms.ValidationError(
                "Too many failed sign-ins. For your safety this sign-in is paused; "
                f"try again in {minutes} minutes.",
                code="too_many_failures",
            )
        return super().clean()
