"""The webhook endpoints' input and output shapes (apps.api.views.webhooks)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.api.serializers import PageQuery, StrictSerializer
from apps.notifications.events import EVENT_TYPES
from apps.webhooks.models import WebhookDelivery
from apps.workflows.registry import process_kind_names


class WebhookEndpointInput(StrictSerializer):
    url = serializers.URLField(max_length=2000, help_text="Where events are POSTed (https in production).")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)),
        min_length=1,
        max_length=len(EVENT_TYPES),
        help_text="Event types from the catalogue (docs/events.md).",
    )
    process_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=process_kind_names()),
        required=False,
        default=list,
        max_length=50,
        help_text="Only events of these process kinds; empty: every kind.",
    )
    enabled = serializers.BooleanField(required=False, default=True)
    ordered_by_instance = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Deliver one instance's events one at a time, in the order they happened (slower).",
    )


class WebhookEndpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    process_kinds = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why it stopped receiving, when it was disabled.")
    ordered_by_instance = serializers.BooleanField()
    failing_since = serializers.DateTimeField(allow_null=True, help_text="Every attempt has failed since.")
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        allow_null=True,
        help_text="After a rotation, requests are signed with the previous secret too until then.",
    )
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointCreatedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="`whsec_...`: shown this once; keep it to verify signatures.")


class WebhookEndpointListOutput(serializers.Serializer):
    results = WebhookEndpointOutput(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class WebhookAttemptOutput(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Null when no HTTP answer came.")
    latency_ms = serializers.IntegerField()
    error = serializers.CharField()
    response_excerpt = serializers.CharField(help_text="The start of the receiver's answer.")


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.CharField(source="message_id", help_text="The `webhook-id` header.")
    event_type = serializers.CharField()
    event_id = serializers.IntegerField(allow_null=True, help_text="Null for a test ping.")
    instance = serializers.IntegerField(source="instance_id", allow_null=True)
    state = serializers.ChoiceField(choices=WebhookDelivery.State.values)
    attempts = serializers.IntegerField()
    redeliveries = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_status = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField(
        source="body", help_text='The signed body: {"type", "timestamp", "data"}.'
    )
    attempt_log = WebhookAttemptOutput(many=True)


class WebhookDeliveryListOutput(serializers.Serializer):
    results = WebhookDeliveryOutput(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class WebhookDeliveryListQuery(PageQuery):
    state = serializers.ChoiceField(choices=WebhookDelivery.State.values, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class WebhookRedeliverInput(StrictSerializer):
    created_after = serializers.DateTimeField()
    created_before = serializers.DateTimeField()
    failed_only = serializers.BooleanField(
        required=False, default=True, help_text="Only deliveries that were given up (default)."
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["created_after"] >= attrs["created_before"]:
            raise serializers.ValidationError({"created_before": ["Must be after created_after."]})
        return attrs


class WebhookRedeliverOutput(serializers.Serializer):
    count = serializers.IntegerField(
        help_text=f"Deliveries put back in line (at most {settings.WEBHOOKS_REDELIVER_MAX})."
    )


class WebhookSecretOutput(serializers.Serializer):
    id = serializers.IntegerField()
    secret = serializers.CharField(help_text="The new `whsec_...` secret, shown this once.")
    previous_secret_valid_until = serializers.DateTimeField(source="previous_secret_expires_at")
    version = serializers.IntegerField()
