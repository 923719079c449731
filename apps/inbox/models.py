from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A named set of inbox filters and a sort, kept on the server.

    Private to its owner, or shared with the team of one queue (the members of the queue's
    role), who may use it but not change it. `filters` holds the inbox form's own fields
    (view, state, q, sort), validated by that form whenever the view is used.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    filters = models.JSONField(default=dict)
    shared_with = models.ForeignKey(
        "humantasks.Queue",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_views",
        help_text="The queue whose team may use this view; empty keeps it private.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint("owner", "name", name="saved_view_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class SavedViewDefault(models.Model):
    """The view a person's inbox opens with (theirs, or one shared with their team)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    view = models.ForeignKey(SavedView, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.view_id}"
