from __future__ import annotations

from django.db.models import QuerySet

from apps.notifications.models import OutboxMessage


def outbox_pending(*, instance_id: int | None = None) -> QuerySet[OutboxMessage]:
    """Rows not yet dispatched, in dispatch order."""
    rows = OutboxMessage.objects.filter(dispatched_at__isnull=True)
    if instance_id is not None:
        rows = rows.filter(instance_id=instance_id)
    return rows.order_by("id")


def outbox_of_instance(*, instance_id: int) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(instance_id=instance_id).order_by("id")
