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


class Notification(models.Model):
    """Something addressed to one person (assigned to you, a reminder, an escalation, sent
    back to you, a mention), from one event: the bell lists them, and mail carries them to
    people who were not online. At most one per person per event (the relay is at least once).

    `task_id` is a plain number, not a foreign key: this layer knows nothing of tasks; the
    pages link it to the task's page, where the reader's access is checked as everywhere.
    """

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned to you"
        SENT_BACK = "sent_back", "Sent back to you"
        REMINDER = "reminder", "Reminder"
        ESCALATED = "escalated", "Escalated"
        MENTIONED = "mentioned", "Mentioned you"

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="notifications")
    message_id = models.BigIntegerField(help_text="The event (outbox row) it came from.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    task_id = models.BigIntegerField(null=True, blank=True)
    title = models.CharField(max_length=300)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message_id"], name="notification_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_recent_idx"),
            models.Index(fields=["user"], name="notification_unread_idx", condition=Q(read_at__isnull=True)),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
