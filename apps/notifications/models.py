from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """A side effect (an automated step to enqueue, an event to announce) written in the
    same transaction as the change that causes it, and dispatched after commit by the relay
    (apps.notifications.services.outbox_relay).

    Order per instance is `id` order: rows of one instance are only written while its row
    is locked (apps.workflows.services.instance_fire), so their ids follow commit order.
    """

    topic = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    instance = models.ForeignKey(
        "workflows.WorkflowInstance", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Not dispatched before this moment (retries of automated steps wait out their backoff here).
    available_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="outbox_pending_idx", condition=Q(dispatched_at__isnull=True)),
            models.Index(
                fields=["instance", "id"],
                name="outbox_pending_instance_idx",
                condition=Q(dispatched_at__isnull=True),
            ),
            models.Index(
                fields=["dispatched_at"],
                name="outbox_dispatched_idx",
                condition=Q(dispatched_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic}"
