"""The staff pages' forms: they check the shape of what was sent; the services decide
whether it may happen (their domain errors come back onto the form)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from apps.core.errors import DomainError, InvalidDecision
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import InboxCursor, InboxFilters

ANY_OPEN = ""
CLAIMED_BY_ME = "mine"
STATE_CHOICES = [
    (ANY_OPEN, "Open or claimed"),
    (HumanTask.State.OPEN, "Open (nobody has it)"),
    (CLAIMED_BY_ME, "Claimed by me"),
    (HumanTask.State.CLAIMED, "Claimed by anyone"),
    (HumanTask.State.COMPLETED, "Completed"),
    (HumanTask.State.CANCELLED, "Cancelled"),
]


class InboxFilterForm(forms.Form):
    queue = forms.ChoiceField(required=False, label="Queue")
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES, label="State")
    q = forms.CharField(required=False, max_length=100, strip=True, label="Title contains")
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, queues: Iterable[Queue]) -> None:
        super().__init__(data)
        self.fields["queue"].choices = [("", "All my queues"), *((q.slug, q.name) for q in queues)]

    def clean_after(self) -> InboxCursor | None:
        token = self.cleaned_data["after"]
        if not token:
            return None
        try:
            return InboxCursor.decode(token)
        except InvalidDecision as error:
            raise forms.ValidationError(error.detail) from None

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in ("queue", "state", "q"))

    def inbox_filters(self, *, user_id: int) -> InboxFilters:
        data = self.cleaned_data
        state = data.get("state") or ANY_OPEN
        filters: dict[str, Any] = {"text": data.get("q") or ""}
        if data.get("queue"):
            filters["queues"] = (data["queue"],)
        if state == CLAIMED_BY_ME:
            filters.update(states=(HumanTask.State.CLAIMED,), assignee_id=user_id)
        elif state != ANY_OPEN:
            filters["states"] = (state,)
        return InboxFilters(**filters)


class TaskActionForm(forms.Form):
    """Claim or unclaim: only the version of the task the person was looking at."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def add_domain_error(self, error: DomainError) -> None:
        self.add_error(None, error.detail)
