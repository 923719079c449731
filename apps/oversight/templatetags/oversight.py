from __future__ import annotations

from datetime import timedelta

from django import template

from apps.oversight.charts import duration_words as _duration_words

register = template.Library()


@register.filter
def duration_words(value: timedelta | None) -> str:
    """A timedelta as "12 min", "3.5 h" or "2.1 d"."""
    return _duration_words(value)


@register.filter
def percent(value: float) -> str:
    return f"{value:.0%}"
