from __future__ import annotations

from typing import Any

from django import template

from apps.core.errors import UnknownProcessKind
from apps.inbox.wording import humanize
from apps.workflows.registry import definition_latest

register = template.Library()


@register.filter
def process_title(kind: str) -> str:
    """`purchase_order` -> "Purchase-order approval"."""
    try:
        return definition_latest(kind).process_title
    except UnknownProcessKind:
        return kind


@register.filter
def humanize_key(value: str) -> str:
    """`request_changes` -> "Request changes"; `cfo_review` -> "CFO review"."""
    return humanize(value)


@register.filter
def is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


@register.inclusion_tag("inbox/_bell.html", takes_context=True)
def notification_bell(context: dict[str, Any]) -> dict[str, Any]:
    """The header's bell: unread count and the latest few (one query)."""
    from apps.inbox.live_views import bell_context

    return bell_context(context["request"].user)
