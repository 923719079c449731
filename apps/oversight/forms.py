"""The oversight pages' query forms: every parameter checked, errors in plain words (never a 500)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.selectors import AuditFilters
from apps.oversight.selectors import kind_choices, state_choices
from apps.workflows.selectors import MAX_ID, InstanceFilters

ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
MAX_RANGE_DAYS = 366


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _SearchForm(forms.Form):
    kind = forms.ChoiceField(required=False, label="Process kind")
    business_key = forms.CharField(required=False, max_length=120, strip=True, label="Business key")
    actor = forms.CharField(required=False, max_length=150, strip=True, label="Person (username)")
    since = forms.DateField(
        required=False, label="From (date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (date, inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Any kind"), *kind_choices()]

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return (
            _start_of(since) if since else None,
            _start_of(until + timedelta(days=1)) if until else None,
        )

    def kinds(self) -> tuple[str, ...]:
        return (self.cleaned_data["kind"],) if self.cleaned_data.get("kind") else ()


class InstanceSearchForm(_SearchForm):
    state = forms.ChoiceField(required=False, label="State")
    field_order = ["kind", "business_key", "state", "actor", "since", "until"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", "Any state"), *state_choices()]
        self.actor_id: int | None = None

    def clean_actor(self) -> str:
        username = self.cleaned_data.get("actor", "")
        if username:
            self.actor_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
            if self.actor_id is None:
                raise forms.ValidationError("Nobody has that username.")
        return username

    def instance_filters(self) -> InstanceFilters:
        since, until = self.time_range()
        data = self.cleaned_data
        return InstanceFilters(
            kinds=self.kinds(),
            states=(data["state"],) if data.get("state") else (),
            business_key=data.get("business_key", ""),
            started_after=since,
            started_before=until,
        )


class EventSearchForm(_SearchForm):
    action = forms.CharField(
        required=False,
        max_length=64,
        strip=True,
        label="Action",
        help_text="For example task.completed or instance.transitioned.",
    )
    field_order = ["kind", "business_key", "action", "actor", "since", "until"]

    def clean_action(self) -> str:
        action = self.cleaned_data.get("action", "")
        if action and not ACTION.match(action):
            raise forms.ValidationError("An action looks like task.completed: letters, one dot.")
        return action

    def audit_filters(self) -> AuditFilters:
        since, until = self.time_range()
        data = self.cleaned_data
        return AuditFilters(
            actor=data.get("actor", ""),
            actions=(data["action"],) if data.get("action") else (),
            occurred_after=since,
            occurred_before=until,
        )


class DashboardForm(forms.Form):
    since = forms.DateField(
        required=False, label="From (date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (date, inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    queue = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Queue")

    def __init__(self, *args, queues=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "All my queues"), *((q.pk, q.name) for q in queues)]

    DEFAULT_DAYS = 30

    @classmethod
    def with_default_range(cls, query) -> dict:
        """The query with the last 30 days filled in where it names no dates, so the form
        shows the range the figures are for."""
        data = query.copy()
        today = timezone.localdate()
        if not data.get("since") and not data.get("until"):
            data["since"] = (today - timedelta(days=cls.DEFAULT_DAYS - 1)).isoformat()
        if not data.get("until") and data.get("since"):
            data["until"] = today.isoformat()
        return data

    def clean(self) -> dict:
        cleaned = super().clean()
        today = timezone.localdate()
        until = cleaned.get("until") or today
        since = cleaned.get("since") or until - timedelta(days=self.DEFAULT_DAYS - 1)
        if until < since:
            self.add_error("until", "The end date is before the start date.")
        elif (until - since).days >= MAX_RANGE_DAYS:
            self.add_error("since", f"Choose at most {MAX_RANGE_DAYS} days.")
        cleaned["since"], cleaned["until"] = since, until
        return cleaned

    def time_range(self) -> tuple[datetime, datetime]:
        return _start_of(self.cleaned_data["since"]), _start_of(
            self.cleaned_data["until"] + timedelta(days=1)
        )
