"""`{% load process_diagrams %}`: a process's diagram and its states in people's words, for any page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.core.errors import UnknownProcessKind
from apps.workflows.diagram import process_diagram_svg, state_label, states_visited
from apps.workflows.registry import definition_latest
from apps.workflows.selectors import process_graph

register = template.Library()


@register.simple_tag
def process_diagram(instance: Any, events: Iterable[Any] = (), element_id: str = "") -> SafeString:
    """The diagram of `instance`'s kind with its state marked and the path in `events` (the
    history the reader may see, oldest first) highlighted. Reads no more rows than `events`."""
    try:
        graph = process_graph(kind=instance.kind)
    except UnknownProcessKind:
        return mark_safe("")
    svg = process_diagram_svg(
        graph,
        current=instance.state,
        visited=states_visited(events),
        element_id=element_id or f"diagram-{instance.pk}",
    )
    # Every name and label in the markup was escaped by process_diagram_svg.
    return mark_safe(svg)  # noqa: S308


@register.simple_tag
def kind_diagram(kind: str, element_id: str = "") -> SafeString:
    try:
        graph = process_graph(kind=kind)
    except UnknownProcessKind:
        return mark_safe("")
    return mark_safe(process_diagram_svg(graph, element_id=element_id or f"diagram-{kind}"))  # noqa: S308


@register.filter(name="state_label")
def state_label_filter(state: str) -> str:
    """`cfo_review` -> "CFO review"."""
    return state_label(str(state or ""))


@register.filter
def kind_title(kind: str) -> str:
    """`purchase_order` -> "Purchase-order approval"."""
    try:
        return definition_latest(str(kind)).process_title
    except UnknownProcessKind:
        return state_label(str(kind))
