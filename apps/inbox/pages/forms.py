"""Forms of the inbox's bulk actions, the managers' board, saved views, comments and
attachments. They check the shape of what was sent; the services decide whether it may
happen, item by item."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import user_active_by_username
from apps.humantasks.models import Queue
from apps.humantasks.services import MAX_REASON_LENGTH
from apps.humantasks.services.comments import MAX_COMMENT_BODY
from apps.humantasks.services.tasks import MAX_PRIORITY
from apps.workflows.selectors import MAX_ID


class TaskIdsField(forms.Field):
    """The tasks ticked in a list: one `task` value per checkbox, each a task id."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one task.",
        "invalid": "The selection is not valid; reload the page and select again.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            ids = [int(item) for item in value]
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if any(not 0 < pk <= MAX_ID for pk in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        ids = list(dict.fromkeys(ids))
        limit = settings.INBOX_BULK_MAX_ITEMS
        if len(ids) > limit:
            raise forms.ValidationError(f"Select at most {limit} tasks at a time.", code="too_many")
        return ids


CLAIM, RELEASE, APPROVE = "claim", "release", "approve"
REASSIGN, REASSIGN_QUEUE, DELEGATE, CANCEL = "reassign", "reassign_queue", "delegate", "cancel"
PRIORITY, DUE = "priority", "due"
STAFF_ACTIONS = {CLAIM: "Claim", RELEASE: "Release", APPROVE: "Approve"}
MANAGER_ACTIONS = {
    REASSIGN: "Reassign to a person",
    REASSIGN_QUEUE: "Move to another queue",
    DELEGATE: "Delegate (tasks you hold)",
    RELEASE: "Release to the queue",
    CANCEL: "Cancel the process",
    PRIORITY: "Change priority",
    DUE: "Change due time",
}
NEEDS_REASON = {REASSIGN, REASSIGN_QUEUE, CANCEL, PRIORITY, DUE}


class BulkActionForm(forms.Form):
    """One action on the ticked tasks, with what that action needs (a person, a queue, a
    reason, a priority or a due time); nothing else is read."""

    task = TaskIdsField(label="Tasks")
    action = forms.ChoiceField(label="Action")
    reason = forms.CharField(
        required=False, max_length=MAX_REASON_LENGTH, label="Reason", widget=forms.Textarea(attrs={"rows": 2})
    )
    to_user = forms.CharField(required=False, max_length=150, label="To person (username)")
    to_queue = forms.ChoiceField(required=False, label="To queue")
    priority = forms.IntegerField(required=False, min_value=0, max_value=MAX_PRIORITY, label="New priority")
    due_at = forms.DateTimeField(
        required=False,
        label="New due time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, manager_queues: list[Queue] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manager_queues = manager_queues or []
        # Managers see their actions first (the board's select opens on "Reassign").
        actions = {**MANAGER_ACTIONS, **STAFF_ACTIONS} if self.manager_queues else dict(STAFF_ACTIONS)
        self.fields["action"].choices = list(actions.items())
        self.fields["to_queue"].choices = [("", "—"), *((q.slug, q.name) for q in self.manager_queues)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action in NEEDS_REASON and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why: the reason is kept in the history.")
        if action in (REASSIGN, DELEGATE):
            username = (data.get("to_user") or "").strip()
            person = user_active_by_username(username=username) if username else None
            if person is None:
                self.add_error("to_user", "Enter the username of an active colleague.")
            data["to_user"] = person
        else:
            data["to_user"] = None
        if action == REASSIGN_QUEUE:
            slug = data.get("to_queue")
            data["to_queue"] = next((q for q in self.manager_queues if q.slug == slug), None)
            if data["to_queue"] is None:
                self.add_error("to_queue", "Choose one of the queues you manage.")
        else:
            data["to_queue"] = None
        if action == PRIORITY and data.get("priority") is None:
            self.add_error("priority", f"Enter a whole number from 0 to {MAX_PRIORITY}.")
        if action == DUE:
            due_at = data.get("due_at")
            if due_at is None:
                self.add_error("due_at", "Enter the new due date and time.")
            elif timezone.is_naive(due_at):
                data["due_at"] = timezone.make_aware(due_at)
        return data

    @property
    def needs_confirmation(self) -> bool:
        return self.cleaned_data.get("action") == APPROVE and not self.cleaned_data.get("confirm")

    @property
    def target(self) -> User | None:
        return self.cleaned_data.get("to_user")


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name of the view", strip=True)
    shared_with = forms.ChoiceField(required=False, label="Share with")
    make_default = forms.BooleanField(required=False, label="Open my inbox with this view")

    def __init__(self, *args: Any, queues: list[Queue], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queues = queues
        self.fields["shared_with"].choices = [
            ("", "Nobody (private)"),
            *((q.slug, f"The {q.name} team") for q in queues),
        ]

    def clean_shared_with(self) -> Queue | None:
        slug = self.cleaned_data.get("shared_with")
        if not slug:
            return None
        queue = next((q for q in self.queues if q.slug == slug), None)
        if queue is None:
            raise forms.ValidationError("Choose one of your queues.")
        return queue


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=MAX_COMMENT_BODY,
        label="Add a note",
        help_text="Mention a colleague with @username to let them know.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(label="Attach a file")
