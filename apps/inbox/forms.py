"""The staff pages' forms: they check the shape of what was sent; the services decide
whether it may happen (their domain errors come back onto the form)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from apps.core.errors import DomainError, InvalidDecision
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import DEFAULT_SORT, INBOX_SORTS, InboxCursor, InboxFilters, InboxSort

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
    sort = forms.ChoiceField(
        required=False,
        choices=[(sort.name, sort.label) for sort in INBOX_SORTS.values()],
        label="Order",
    )
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, queues: Iterable[Queue]) -> None:
        super().__init__(data)
        self.fields["queue"].choices = [("", "All my queues"), *((q.slug, q.name) for q in queues)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sort = data.get("sort") or DEFAULT_SORT.name
        if data.get("state") in (HumanTask.State.COMPLETED, HumanTask.State.CANCELLED):
            # Closed tasks have one index (urgency); the other orders are for open work.
            sort = DEFAULT_SORT.name
        data["sort"] = sort
        token = data.get("after")
        data["after"] = None
        if token:
            try:
                data["after"] = InboxCursor.decode(token, sort=sort)
            except InvalidDecision as error:
                self.add_error("after", error.detail)
        return data

    def inbox_sort(self) -> InboxSort:
        return (
            INBOX_SORTS[self.cleaned_data.get("sort") or DEFAULT_SORT.name] if self.is_bound else DEFAULT_SORT
        )

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in ("queue", "state", "q"))

    def saved_filters(self) -> dict[str, str]:
        """What a saved view keeps of this form: its filters and sort, never the page."""
        return {
            name: str(self.data.get(name)) for name in ("queue", "state", "q", "sort") if self.data.get(name)
        }

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
