"""People's words and the reader's number formats in templates: `{% load people %}`."""

from __future__ import annotations

from typing import Any

from django import template

from apps.inbox import wording

register = template.Library()


@register.simple_tag
def state_label(kind: str, state: str) -> str:
    """`{% state_label instance.kind instance.state %}` -> "CFO review"."""
    return wording.state_label(kind, state)


@register.simple_tag
def step_label(kind: str, step: str) -> str:
    return wording.step_label(kind, step)


@register.simple_tag
def outcome_label(kind: str, outcome: str) -> str:
    return wording.outcome_label(kind, outcome)


@register.filter
def kind_title(kind: str) -> str:
    return wording.kind_title(kind)


@register.filter
def person(user: Any) -> str:
    """A person by name (their username when they have none); "the system" for no one."""
    return wording.person_name(user)


@register.simple_tag(takes_context=True)
def money(context: template.Context, value: Any, currency: str) -> str:
    """`{% money 120000 "EUR" %}` -> "120,000.00 EUR" (English reader), "120.000,00 EUR" (German)."""
    return wording.money(value, currency, language=wording.reader_language(context.get("request")))


@register.simple_tag(takes_context=True)
def number(context: template.Context, value: Any) -> str:
    return wording.number(value, language=wording.reader_language(context.get("request")))
