"""Webhook endpoints and their delivery log in the admin. Writes go through the services
(the secret is shown once, in the confirmation message); staff see only the endpoints they
own, superusers every one."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.core.admin import ReadOnlyAdminMixin, pretty_json
from apps.notifications.events import EVENT_TYPES
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services.endpoints import (
    CHANGEABLE,
    deliveries_redeliver,
    endpoint_check,
    endpoint_create,
    endpoint_delete,
    endpoint_ping,
    endpoint_secret_rotate,
    endpoint_update,
)
from apps.workflows.registry import process_kind_names


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )
    process_kinds = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: every kind."
    )

    class Meta:
        model = WebhookEndpoint
        fields = (
            "owner",
            "url",
            "description",
            "event_types",
            "process_kinds",
            "enabled",
            "ordered_by_instance",
        )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["process_kinds"].choices = [(name, name) for name in process_kind_names()]

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        from apps.core.errors import InvalidWebhookEndpoint

        try:
            endpoint_check(
                url=cleaned.get("url") or "",
                event_types=cleaned.get("event_types") or [],
                process_kinds=cleaned.get("process_kinds") or [],
            )
        except InvalidWebhookEndpoint as error:
            for field, problems in error.errors.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, problems)
        return cleaned


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "owner", "enabled", "ordered_by_instance", "failing_since", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("url", "description", "owner__username")
    raw_id_fields = ("owner",)
    readonly_fields = (
        "disabled_reason",
        "failing_since",
        "previous_secret_expires_at",
        "version",
        "created_at",
    )
    actions = ["rotate_secret", "ping", "redeliver_failed"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        endpoints = super().get_queryset(request).select_related("owner")
        return endpoints if request.user.is_superuser else endpoints.filter(owner=request.user)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # An endpoint hears what its owner may see: staff subscribe for themselves only, or
        # they would receive another person's events (an auditor's) at their own URL.
        mine_only = obj is not None or not request.user.is_superuser
        return (*self.readonly_fields, "owner") if mine_only else self.readonly_fields

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        data = form.cleaned_data
        if change:
            endpoint_update(
                endpoint=obj, actor=request.user, **{name: data[name] for name in CHANGEABLE if name in data}
            )
            return
        created, secret = endpoint_create(
            owner=data.get("owner") or request.user,
            actor=request.user,
            **{name: data[name] for name in CHANGEABLE if name in data},
        )
        obj.pk = created.pk
        self.message_user(
            request, f"The endpoint's signing secret is {secret} (shown only this once).", messages.WARNING
        )

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        endpoint_delete(endpoint=obj, actor=request.user)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for endpoint in queryset:
            endpoint_delete(endpoint=endpoint, actor=request.user)

    @admin.action(
        description="Rotate the secret (the previous one signs too for the overlap)", permissions=["change"]
    )
    def rotate_secret(self, request, queryset):  # type: ignore[no-untyped-def]
        for endpoint in queryset:
            _, secret = endpoint_secret_rotate(endpoint=endpoint, actor=request.user)
            self.message_user(
                request, f"New secret of {endpoint.url}: {secret} (shown only this once).", messages.WARNING
            )

    @admin.action(description="Send a test ping", permissions=["change"])
    def ping(self, request, queryset):  # type: ignore[no-untyped-def]
        for endpoint in queryset:
            endpoint_ping(endpoint=endpoint, actor=request.user)
        self.message_user(request, f"A webhook.ping is on its way to {queryset.count()} endpoint(s).")

    @admin.action(description="Redeliver every delivery given up", permissions=["change"])
    def redeliver_failed(self, request, queryset):  # type: ignore[no-untyped-def]
        count = sum(
            len(deliveries_redeliver(endpoint=endpoint, actor=request.user, failed_only=True))
            for endpoint in queryset
        )
        self.message_user(request, f"{count} deliveries are back in line.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: filter by endpoint, state and time (a range by hand: the date
    filter, then select all and redeliver)."""

    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    )
    list_filter = ("state", "event_type", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("message_id", "endpoint__url")
    list_select_related = ("endpoint",)
    fields = (
        "endpoint",
        "message_id",
        "event_type",
        "event_id",
        "instance_id",
        "state",
        "attempts",
        "redeliveries",
        "next_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "finished_at",
        "signed_body",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        deliveries = super().get_queryset(request)
        return deliveries if request.user.is_superuser else deliveries.filter(endpoint__owner=request.user)

    @admin.display(description="body")
    def signed_body(self, obj: WebhookDelivery) -> str:
        return pretty_json(obj.body)

    def has_redeliver_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return request.user.has_perm("webhooks.change_webhookendpoint")

    @admin.action(
        description="Redeliver the selected deliveries (same webhook-id)", permissions=["redeliver"]
    )
    def redeliver(self, request, queryset):  # type: ignore[no-untyped-def]
        count = 0
        for endpoint_id in set(queryset.values_list("endpoint_id", flat=True)):
            endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
            ids = list(queryset.filter(endpoint_id=endpoint_id).values_list("id", flat=True))
            count += len(deliveries_redeliver(endpoint=endpoint, actor=request.user, ids=ids))
        self.message_user(request, f"{count} deliveries are back in line.")
