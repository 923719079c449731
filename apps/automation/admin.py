"""Step runs, for reading: they change only through apps.automation.services."""

from __future__ import annotations

from django.contrib import admin

from apps.automation.models import StepRun
from apps.core.admin import ReadOnlyAdminMixin


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("instance", "step", "state", "attempts", "next_attempt_at", "updated_at")
    list_filter = ("state", "step")
    search_fields = ("idempotency_key", "instance__business_key")
    list_select_related = ("instance",)
    ordering = ("-id",)
