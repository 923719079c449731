"""Process instances in the admin: for reading only. They change through the transition
service (apps.workflows.services), never through a form, so even superusers get no add,
change or delete here.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import tasks_visible_to
from apps.workflows.models import WorkflowInstance


def pretty_json(value: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class ReadOnlyAdminMixin:
    """Shows rows to those with the view permission; offers no way to write them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class HumanTaskInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = HumanTask
    fields = ("title", "step", "queue", "state", "assignee", "outcome", "decided_by", "due_at", "closed_at")
    readonly_fields = fields
    ordering = ("created_at", "id")
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[HumanTask]:
        # The admin is no back door to confidential tasks: the same reach as everywhere else.
        return super().get_queryset(request).filter(pk__in=tasks_visible_to(user=request.user).values("pk"))


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("business_key", "kind", "state", "requester", "created_at", "finished_at")
    list_filter = ("kind", "state", "definition_version")
    search_fields = ("business_key", "requester__username", "started_by__username")
    list_select_related = ("requester",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (HumanTaskInline,)
    fields = (
        "kind",
        "definition_version",
        "business_key",
        "state",
        "business_data",
        "requester",
        "started_by",
        "created_at",
        "updated_at",
        "finished_at",
        "version",
    )
    readonly_fields = fields

    @admin.display(description="Business data")
    def business_data(self, instance: WorkflowInstance) -> str:
        return pretty_json(instance.data)
