"""Queues are configuration and editable here; tasks, and the process instances they
belong to, are for reading only (they change through the services, which check
permissions and write the audit log). The instances' admin lives here, not in the engine,
because it lists each instance's tasks, and the engine knows nothing of tasks.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdminMixin, pretty_json
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import tasks_visible_to
from apps.humantasks.services import queue_create
from apps.workflows.models import WorkflowInstance

QUEUE_CREATE_FIELDS = ("slug", "name", "description", "role", "managers")


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "role", "managers")
    search_fields = ("name", "slug", "role__name")
    list_select_related = ("role", "managers")

    def get_readonly_fields(self, request: HttpRequest, obj: Queue | None = None) -> tuple[str, ...]:
        # A queue's grants follow its role and managers (set by queue_create); changing
        # them afterwards would leave the old groups' grants behind, so they are fixed here.
        return ("slug", "role", "managers") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Queue | None = None) -> bool:
        # Tasks and audit events name their queue; a queue is retired, not deleted.
        return False

    def save_model(self, request: HttpRequest, obj: Queue, form: Any, change: bool) -> None:
        if change:
            # Name, description and the SLA policy are plain configuration; the grants are not touched.
            super().save_model(request, obj, form, change)
            return
        created = queue_create(
            slug=obj.slug,
            name=obj.name,
            role=obj.role,
            managers=obj.managers,
            description=obj.description,
            actor=request.user,
        )
        # The rest of the form (the SLA policy) is configuration queue_create leaves at its defaults.
        # The admin runs this view in one transaction, so the queue never exists without them.
        policy = [name for name in form.cleaned_data if name not in QUEUE_CREATE_FIELDS]
        for name in policy:
            setattr(created, name, form.cleaned_data[name])
        if policy:
            created.save(update_fields=policy)
        # The admin goes on to log and redirect with the object it was given.
        obj.pk = created.pk


@admin.register(HumanTask)
class HumanTaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("title", "process_kind", "queue", "step", "state", "assignee", "priority", "due_at")
    list_filter = ("state", "queue", "process_kind", "is_confidential")
    search_fields = ("title", "instance__business_key", "assignee__username", "step")
    list_select_related = ("queue", "assignee")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[HumanTask]:
        # The admin is no back door to confidential tasks: the same reach as everywhere else.
        return super().get_queryset(request).filter(pk__in=tasks_visible_to(user=request.user).values("pk"))

    fields = (
        "title",
        "instance",
        "process_kind",
        "queue",
        "step",
        "state",
        "assignee",
        "priority",
        "due_at",
        "is_confidential",
        "outcome",
        "decision",
        "comment",
        "decided_by",
        "created_at",
        "claimed_at",
        "closed_at",
        "version",
    )
    readonly_fields = fields

    @admin.display(description="Decision data")
    def decision(self, task: HumanTask) -> str:
        return pretty_json(task.decision_data)


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
