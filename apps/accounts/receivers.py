"""Sign-in events go to the audit log (each user's own chain; failures to one shared chain)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from apps.audit.services import audit_record


@receiver(user_logged_in)
def audit_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(action="auth.signed_in", actor=user, chain_key=f"user:{user.pk}")


@receiver(user_logged_out)
def audit_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        with transaction.atomic():
            audit_record(action="auth.signed_out", actor=user, chain_key=f"user:{user.pk}")


@receiver(user_login_failed)
def audit_sign_in_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    with transaction.atomic():
        audit_record(
            action="auth.sign_in_failed", actor=None, chain_key="auth:failures", data={"username": username}
        )
