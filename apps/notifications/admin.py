"""Outbox rows, for reading: what waits to be sent (and why), and what was sent."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import ReadOnlyAdminMixin
from apps.notifications.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "topic", "instance", "created_at", "available_at", "dispatched_at", "attempts")
    list_filter = ("topic", ("dispatched_at", admin.EmptyFieldListFilter))
    search_fields = ("topic", "last_error")
    list_select_related = ("instance",)
    ordering = ("-id",)
