"""The audit log in the admin, for reading only: the database refuses changes anyway
(apps.audit.models triggers); the admin does not offer them.
"""

from __future__ import annotations

from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.core.admin import ReadOnlyAdminMixin, pretty_json


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "occurred_at",
        "action",
        "actor_label",
        "actor_type",
        "instance",
        "from_state",
        "to_state",
    )
    list_filter = ("action", "actor_type")
    search_fields = ("action", "actor_label", "chain_key", "request_id", "instance__business_key")
    list_select_related = ("instance",)
    date_hierarchy = "occurred_at"
    ordering = ("-id",)
    fields = (
        "chain_key",
        "seq",
        "occurred_at",
        "actor",
        "actor_type",
        "actor_label",
        "action",
        "instance",
        "task",
        "from_state",
        "to_state",
        "event_data",
        "request_id",
        "source_ip",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="Data")
    def event_data(self, event: AuditEvent) -> str:
        return pretty_json(event.data)
