"""Webhook endpoints (subscriptions), the deliveries owed to them and each attempt made.

A delivery is written once per (endpoint, event) when the event is fanned out, and is the
durable record of what is still owed: the Celery job that sends it may be lost with the
broker, the row is not (beat's sweep enqueues what is due). See docs/adr/webhooks.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEndpoint(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Names from apps.notifications.events.EVENT_TYPES.
    event_types = models.JSONField(default=list)
    # Process kinds (e.g. purchase_order) whose events it wants; empty: every kind.
    process_kinds = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Deliveries of one instance go one at a time, in event order (slower; see README).
    ordered_by_instance = models.BooleanField(default=False)
    # Encrypted at rest (apps.webhooks.signing); the plain secret is shown once.
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt has failed (None while the last one succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner", "id"], name="webhook_endpoint_owner_idx")]

    def __str__(self) -> str:
        return f"{self.url} ({self.owner_id})"


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # gave up: the retry schedule ran out, or the endpoint answered 410

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The outbox row's id (the event id); None for a test ping.
    event_id = models.BigIntegerField(null=True, blank=True)
    event_type = models.CharField(max_length=64)
    instance_id = models.BigIntegerField(null=True, blank=True)
    # The `webhook-id` header: the same on every attempt and on redelivery by hand.
    message_id = models.CharField(max_length=64, unique=True)
    # The signed body: {"type", "timestamp", "data"}.
    body = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Attempts since it was created or last put back in line by hand.
    attempts = models.PositiveIntegerField(default=0)
    redeliveries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # An attempt in progress holds the row until then (a worker killed mid-attempt lets go).
    leased_until = models.DateTimeField(null=True, blank=True)
    # When the job last enqueued for it should run; the sweep enqueues again well after that.
    enqueued_for = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The outbox is at least once: a repeated event makes no second delivery.
            models.UniqueConstraint(
                fields=["endpoint", "event_id"],
                name="webhook_delivery_once_per_event",
                condition=Q(event_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=Q(state="pending")
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["created_at"], name="webhook_delivery_created_idx"),
            models.Index(
                fields=["endpoint", "instance_id", "event_id"],
                name="webhook_delivery_order_idx",
                condition=Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.event_type} -> endpoint {self.endpoint_id}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    # None when no HTTP answer came (refused target, connection error, timeout).
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "id"], name="webhook_attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"


class WebhookEventSeen(models.Model):
    """An event the fan-out has handled (with or without deliveries): repeats of an event
    are dropped, and ordered endpoints wait until every earlier event of the instance is here."""

    event_id = models.BigIntegerField(primary_key=True)
    instance_id = models.BigIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["seen_at"], name="webhook_event_seen_at_idx")]

    def __str__(self) -> str:
        return f"event {self.event_id}"
