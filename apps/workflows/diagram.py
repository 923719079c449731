"""A process kind's graph drawn as SVG, in pure Python (docs/adr/process-diagram-svg.md).

No Graphviz, no JavaScript renderer, no network: the layout is a few columns read from the
graph's own flow order, which is all three shipped kinds need and works on the embedded
default. The drawing is CSP-safe (presentation attributes and classes, never a `style`
attribute) and accessible (a title, a description that says the same in words, text labels).

`process_diagram_svg` draws a kind; given an instance's `current` state and the `visited`
states in the order it passed them (read from its audit events by `states_visited`), it marks
the one and highlights the path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape

from apps.workflows.selectors import GraphEdge, ProcessGraph

# Words people write in capitals; everything else reads as a sentence ("CFO review").
ACRONYMS = {"cfo": "CFO", "hr": "HR", "it": "IT", "po": "PO", "api": "API", "sla": "SLA"}

NODE_WIDTH, NODE_HEIGHT = 150, 40
COLUMN_GAP, ROW_GAP, MARGIN = 60, 30, 28

# Presentation attributes, so the drawing reads right with no stylesheet at all; the classes
# let static CSS restyle it (print, dark themes) without inline styles.
LOOK = {
    "state": {"fill": "#ffffff", "stroke": "#6b7280", "stroke-width": "1.5"},
    "state-visited": {"fill": "#e0f2fe", "stroke": "#0369a1", "stroke-width": "2"},
    "state-current": {"fill": "#fde68a", "stroke": "#92400e", "stroke-width": "3"},
    "edge": {"stroke": "#9ca3af", "stroke-width": "1.2", "fill": "none"},
    "edge-request": {"stroke": "#d1d5db", "stroke-width": "1", "fill": "none", "stroke-dasharray": "4 3"},
    "edge-taken": {"stroke": "#0369a1", "stroke-width": "3", "fill": "none"},
}


def state_label(state: str) -> str:
    """`cfo_review` -> "CFO review": a state's name as people say it."""
    words = [ACRONYMS.get(word, word) for word in re.split(r"[_\s]+", state.strip()) if word]
    if not words:
        return ""
    first = words[0] if words[0] in ACRONYMS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def states_visited(events: Iterable[Any]) -> list[str]:
    """The states an instance passed through, in order, from its audit events (oldest first):
    the start event's state, then each transition's target. Events are read by attribute
    (`action`, `from_state`, `to_state`), so the history a reader may see is enough."""
    path: list[str] = []
    for event in events:
        if event.action == "instance.started" and event.to_state and not path:
            path.append(event.to_state)
        elif event.action == "instance.transitioned" and event.to_state:
            if not path and event.from_state:
                path.append(event.from_state)
            # A move that stays put (one of several approvals) adds nothing to the path.
            if path[-1] != event.to_state:
                path.append(event.to_state)
    return path


@dataclass(frozen=True)
class _Box:
    state: str
    x: float
    y: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + NODE_WIDTH / 2, self.y + NODE_HEIGHT / 2


def _columns(graph: ProcessGraph) -> list[list[str]]:
    """Flow depth from the initial state along the process's own moves; final states last."""
    depth = {graph.initial_state: 0}
    frontier = [graph.initial_state]
    own_moves = [e for e in graph.edges if e.trigger != "external"]
    while frontier:
        reached = []
        for edge in own_moves:
            if edge.source in frontier and edge.target not in depth:
                depth[edge.target] = depth[edge.source] + 1
                reached.append(edge.target)
        frontier = reached
    finals = set(graph.final_states)
    deepest = max((d for s, d in depth.items() if s not in finals), default=0)
    columns: list[list[str]] = [[] for _ in range(deepest + 2)]
    for state in graph.states:
        if state in finals:
            columns[deepest + 1].append(state)
        else:
            columns[min(depth.get(state, deepest), deepest)].append(state)
    return [column for column in columns if column]


def _attrs(look: str, **extra: str) -> str:
    pairs = {**LOOK[look], **extra}
    return " ".join(f'{name}="{escape(value)}"' for name, value in pairs.items())


def _border_point(box: _Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre toward `toward` leaves the box."""
    cx, cy = box.centre
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(
        (NODE_WIDTH / 2) / abs(dx) if dx else float("inf"),
        (NODE_HEIGHT / 2) / abs(dy) if dy else float("inf"),
    )
    return cx + dx * scale, cy + dy * scale


def _edge_path(source: _Box, target: _Box, bend: float) -> str:
    (sx, sy), (tx, ty) = source.centre, target.centre
    mx, my = (sx + tx) / 2, (sy + ty) / 2
    length = max(((tx - sx) ** 2 + (ty - sy) ** 2) ** 0.5, 1.0)
    # The control point sits off the straight line, so edges of opposite directions and
    # edges that would cross a column's boxes curve apart.
    control = (mx - (ty - sy) / length * bend, my + (tx - sx) / length * bend)
    start, end = _border_point(source, control), _border_point(target, control)
    return f"M{start[0]:.1f},{start[1]:.1f} Q{control[0]:.1f},{control[1]:.1f} {end[0]:.1f},{end[1]:.1f}"


def _sentence(states: Sequence[str]) -> str:
    return " → ".join(state_label(s) for s in states)


def process_diagram_svg(
    graph: ProcessGraph,
    *,
    current: str | None = None,
    visited: Sequence[str] = (),
    element_id: str = "diagram",
) -> str:
    """The graph as one `<svg>` element (a string of markup, escaped; safe to mark safe).

    `element_id` prefixes every id inside it, so two diagrams can share a page.
    """
    columns = _columns(graph)
    tallest = max(len(column) for column in columns)
    height = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    width = MARGIN * 2 + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    boxes: dict[str, _Box] = {}
    for index, column in enumerate(columns):
        column_height = len(column) * NODE_HEIGHT + (len(column) - 1) * ROW_GAP
        top = (height - column_height) / 2
        for row, state in enumerate(column):
            x = MARGIN + index * (NODE_WIDTH + COLUMN_GAP)
            boxes[state] = _Box(state, x, top + row * (NODE_HEIGHT + ROW_GAP))

    taken = set(zip(visited, visited[1:], strict=False))
    seen = set(visited)
    title_id, desc_id, arrow, arrow_taken = (
        f"{element_id}-title",
        f"{element_id}-desc",
        f"{element_id}-arrow",
        f"{element_id}-arrow-taken",
    )
    description = [f"States of a {graph.title.lower()}, left to right in the order a process lives."]
    if current:
        description.append(f"Current state: {state_label(current)}.")
    if visited:
        description.append(f"Path taken: {_sentence(visited)}.")
    description.append(
        "Moves: "
        + "; ".join(f"{state_label(e.source)} to {state_label(e.target)} ({e.transition.replace('_', ' ')})"
                    for e in graph.edges)
        + "."
    )  # fmt: skip

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="process-diagram" id="{escape(element_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{title_id}">{escape(graph.title)}: process diagram'
        f"{escape(f', now {state_label(current)}') if current else ''}</title>",
        f'<desc id="{desc_id}">{escape(" ".join(description))}</desc>',
        "<defs>",
        *(
            f'<marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            'markerUnits="userSpaceOnUse" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for marker, colour in ((arrow, "#9ca3af"), (arrow_taken, "#0369a1"))
        ),
        "</defs>",
    ]
    # Taken edges last, so they are drawn over the others.
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target) in taken):
        out.append(_edge_svg(edge, boxes, (edge.source, edge.target) in taken, arrow, arrow_taken))
    for state, box in boxes.items():
        look = "state-current" if state == current else ("state-visited" if state in seen else "state")
        final = state in graph.final_states
        label = state_label(state)
        out.append(f'<g class="{look}{" state-final" if final else ""}" data-state="{escape(state)}">')
        out.append(f"<title>{escape(label)}{' (current state)' if state == current else ''}</title>")
        out.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
            f'rx="{4 if final else 14}" {_attrs(look)}/>'
        )
        weight = ' font-weight="bold"' if state == current else ""
        out.append(
            f'<text x="{box.centre[0]:.1f}" y="{box.centre[1] + 4:.1f}" text-anchor="middle" '
            f'fill="#111827"{weight}>{escape(label)}</text>'
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _edge_svg(edge: GraphEdge, boxes: dict[str, _Box], taken: bool, arrow: str, arrow_taken: str) -> str:
    source, target = boxes[edge.source], boxes[edge.target]
    if source.state == target.state:
        # A move that stays put (the state's work goes on): a loop over the box's top edge.
        left, right, top = source.x + NODE_WIDTH * 0.4, source.x + NODE_WIDTH * 0.6, source.y
        path = (
            f"M{right:.1f},{top:.1f} C{right + 14:.1f},{top - 26:.1f} "
            f"{left - 14:.1f},{top - 26:.1f} {left:.1f},{top:.1f}"
        )
    else:
        # Straight-ish forward moves; moves back or within a column bow out so they stay visible.
        path = _edge_path(source, target, 12.0 if target.x > source.x else 40.0)
    look = "edge-taken" if taken else ("edge-request" if edge.trigger == "external" else "edge")
    marker = arrow_taken if taken else arrow
    return (
        f'<path class="{look}" data-from="{escape(edge.source)}" data-to="{escape(edge.target)}" '
        f'd="{path}" marker-end="url(#{marker})" {_attrs(look)}>'
        f"<title>{escape(edge.transition.replace('_', ' ').capitalize())}: "
        f"{escape(state_label(edge.source))} to {escape(state_label(edge.target))}</title></path>"
    )
