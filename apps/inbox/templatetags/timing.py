"""Times relative to now, in people's words and the site's language: "in 2 days",
"3 h overdue", "4 days old"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()


def _span(delta: timedelta) -> str:
    # Rounded to the nearest unit: a task due in 47 h 59 min is due "in 2 days", not "in 1 day".
    seconds = abs(delta.total_seconds())
    days, hours, minutes = round(seconds / 86400), round(seconds / 3600), round(seconds / 60)
    if seconds >= 86400 - 1800:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if seconds >= 3600 - 30:
        return ngettext("%(n)d h", "%(n)d h", hours) % {"n": hours}
    minutes = max(minutes, 1)
    return ngettext("%(n)d min", "%(n)d min", minutes) % {"n": minutes}


def due_phrase(due_at: datetime, now: datetime) -> str:
    """When a task is due, from `now`: "in 2 days", "due now", "3 h overdue"."""
    delta = due_at - now
    if abs(delta) < timedelta(minutes=1):
        return _("due now")
    if delta > timedelta(0):
        return _("in %(span)s") % {"span": _span(delta)}
    return _("%(span)s overdue") % {"span": _span(delta)}


@register.simple_tag
def due_relative(due_at: datetime, now: datetime | None = None) -> str:
    return due_phrase(due_at, now or timezone.now())


@register.simple_tag
def age_of(created_at: datetime | None, now: datetime | None = None) -> str:
    """How long ago something began: "4 days", "3 h"; "—" when there is nothing."""
    if created_at is None:
        return "—"
    return _span((now or timezone.now()) - created_at)


@register.filter
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key)
