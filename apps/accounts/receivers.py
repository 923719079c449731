"""Sign-in events go to the audit log (each user's own chain; failures to one shared chain).
Changes of who a person is reach their live sockets (apps.notifications.services.live_control)
after commit: new roles re-subscribe them, sign-out and deactivation close them."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.notifications.events import user_group
from apps.notifications.services import live_control


@receiver(user_logged_in)
def audit_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(action="auth.signed_in", actor=user, chain_key=f"user:{user.pk}")


@receiver(user_logged_out)
def audit_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        with transaction.atomic():
            audit_record(action="auth.signed_out", actor=user, chain_key=f"user:{user.pk}")
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        # Only the sockets of the session that signed out (the consumer names sessions so).
        mark = hashlib.sha256(session_key.encode()).hexdigest()[:24] if session_key else None
        live_control(groups=[user_group(user.pk)], kind="signed_out", session=mark)


@receiver(user_login_failed)
def audit_sign_in_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    with transaction.atomic():
        audit_record(
            action="auth.sign_in_failed", actor=None, chain_key="auth:failures", data={"username": username}
        )


@receiver(m2m_changed, sender=User.groups.through)
def live_follow_roles(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """A person's roles decide which queues they hear: their sockets re-subscribe."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:  # group.user_set.add(...): the people are in pk_set (all of them on clear)
        people = set(pk_set or ()) or set(instance.user_set.values_list("pk", flat=True))
    else:
        people = {instance.pk}
    groups = [user_group(pk) for pk in sorted(people)]
    transaction.on_commit(lambda: live_control(groups=groups, kind="access_changed"))


@receiver(post_save, sender=User)
def live_close_deactivated(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        groups = [user_group(instance.pk)]
        transaction.on_commit(lambda: live_control(groups=groups, kind="deactivated"))
