"""Notifications addressed to people (the bell, and mail for those not online), made from
the events of apps.notifications.events.

Who is told is read from the event itself, never widened: its `user-<id>` and `role-<id>`
groups (a queue's audience hears of a task on its inbox rows, not in the bell), narrowed
by the rules below, and never the person who did it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.notifications.models import Notification

logger = logging.getLogger(__name__)

Kind = Notification.Kind
# These kinds also go by mail to people who are not online and have not opted out.
EMAILED_KINDS = {Kind.ASSIGNED, Kind.SENT_BACK, Kind.REMINDER, Kind.ESCALATED}
RECENT = 10


@dataclass(frozen=True)
class Addressed:
    kind: str
    text: str
    # Usernames the event names as its receivers; None: every person of its user and role groups.
    usernames: tuple[str, ...] | None = None


def personal_address(topic: str, data: dict[str, Any]) -> Addressed | None:
    """Which events are personal, and to whom (the rest only redraw inbox rows)."""
    if topic == "task.created" and data.get("assignee"):
        # Only a requester's own step opens straight onto a person: it came back to them.
        return Addressed(Kind.SENT_BACK, "Sent back to you", (data["assignee"],))
    if topic == "task.reassigned" and data.get("to_assignee"):
        return Addressed(Kind.ASSIGNED, "Assigned to you by a manager", (data["to_assignee"],))
    if topic == "task.delegated" and data.get("to_assignee"):
        return Addressed(Kind.ASSIGNED, "Handed to you by a colleague", (data["to_assignee"],))
    if topic == "task.reminder" and data.get("assignee"):
        return Addressed(Kind.REMINDER, "Falls due soon", (data["assignee"],))
    if topic == "task.escalated":
        return Addressed(Kind.ESCALATED, "Overdue: escalated")
    if topic == "comment.mentioned":
        return Addressed(Kind.MENTIONED, "Mentioned you in a comment")
    return None


def _recipients(addressed: Addressed, groups: Iterable[str], actor: str | None) -> QuerySet:
    user_ids, role_ids = set(), set()
    for group in groups:
        family, _dash, number = str(group).partition("-")
        if number.isdigit():
            if family == "user":
                user_ids.add(int(number))
            elif family == "role":
                role_ids.add(int(number))
    people = get_user_model().objects.filter(is_active=True)
    audience = people.filter(Q(pk__in=user_ids) | Q(groups__pk__in=role_ids)).distinct()
    if addressed.usernames is not None:
        # Named receivers must also be in the audience the producer chose.
        audience = audience.filter(username__in=addressed.usernames)
    if actor:
        audience = audience.exclude(username=actor)
    return audience


def notifications_record(*, message_id: int, topic: str, payload: dict[str, Any]) -> list[Notification]:
    """The notifications one event makes (none for most): written once per person and event,
    whatever the number of deliveries. Returns those written by this call."""
    addressed = personal_address(topic, payload)
    if addressed is None:
        return []
    recipients = list(
        _recipients(addressed, payload.get("notify_groups", ()), payload.get("actor")).values_list(
            "pk", flat=True
        )
    )
    if not recipients:
        return []
    with transaction.atomic():
        already = set(
            Notification.objects.filter(message_id=message_id, user_id__in=recipients).values_list(
                "user_id", flat=True
            )
        )
        fresh = [
            Notification(
                user_id=user_id,
                message_id=message_id,
                kind=addressed.kind,
                task_id=payload.get("task"),
                title=str(payload.get("title") or payload.get("business_key") or topic)[:300],
                text=addressed.text,
            )
            for user_id in recipients
            if user_id not in already
        ]
        Notification.objects.bulk_create(fresh, ignore_conflicts=True)
        # ignore_conflicts leaves the objects without ids: read back the ones written now.
        return list(
            Notification.objects.filter(
                message_id=message_id, user_id__in=[n.user_id for n in fresh]
            ).order_by("id")
        )


def notifications_recent_for(*, user: Any, limit: int = RECENT) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class Bell:
    """The header's bell: how many of the person's notifications are unread, and the latest."""

    unread: int
    recent: list[Notification]


def notifications_bell_for(*, user: Any, limit: int = 5) -> Bell:
    """The bell in one query on every page: the latest `limit`, each carrying the unread
    count as an uncorrelated subquery (PostgreSQL runs it once, on the unread index). No
    notifications at all means none unread."""
    unread = (
        Notification.objects.filter(user=user, read_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(count=Count("pk"))
        .values("count")
    )
    recent = list(
        Notification.objects.filter(user=user)
        .annotate(unread=Coalesce(Subquery(unread), 0))
        .order_by("-created_at", "-id")[:limit]
    )
    return Bell(unread=recent[0].unread if recent else 0, recent=recent)


def notification_mark_read(*, user: Any, notification_id: int) -> bool:
    """Mark one of `user`'s own notifications read; False when they have no such one."""
    with transaction.atomic():
        found = Notification.objects.filter(user=user, pk=notification_id)
        if not found.exists():
            return False
        found.filter(read_at__isnull=True).update(read_at=timezone.now())
    return True


def notifications_mark_all_read(*, user: Any) -> int:
    with transaction.atomic():
        return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def notifications_email(*, notification_ids: list[int]) -> int:
    """Mail each of these notifications whose person is not online, has an address and has
    not opted out; each at most once (emailed_at). Returns how many mails went."""
    from apps.notifications.live import live_online

    with transaction.atomic():
        pending = list(
            Notification.objects.select_for_update(skip_locked=True)
            .select_related("user")
            .filter(pk__in=notification_ids, emailed_at__isnull=True, kind__in=EMAILED_KINDS)
            .exclude(user__email="")
            .filter(user__is_active=True, user__email_notifications=True)
        )
        if not pending:
            return 0
        online = live_online(user_ids={n.user_id for n in pending})
        to_send = [n for n in pending if n.user_id not in online]
        if not to_send:
            return 0
        messages = [_mail(n) for n in to_send]
        with get_connection(fail_silently=False) as connection:
            sent = connection.send_messages(messages) or 0
        Notification.objects.filter(pk__in=[n.pk for n in to_send]).update(emailed_at=timezone.now())
    return sent


def _mail(notification: Notification) -> EmailMessage:
    link = f"{settings.SITE_URL.rstrip('/')}/tasks/{notification.task_id}/" if notification.task_id else ""
    body = "\n\n".join(
        part
        for part in (
            f"{notification.text}: {notification.title}",
            f"Open it: {link}" if link else "",
            "You get this mail because you were not signed in. "
            "Turn these mails off under Notifications > Preferences.",
        )
        if part
    )
    return EmailMessage(
        subject=f"[Approval inbox] {notification.text}: {notification.title}"[:200],
        body=body,
        to=[notification.user.email],
    )
