from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.roles import QUEUE_ROLES
from apps.core.errors import UnknownProcessKind
from apps.workflows.registry import process_kind_names
from apps.workflows.selectors import GraphEdge, ProcessGraph, process_graph

DOCS_COMMAND = "python3 manage.py process_graph --format markdown --output docs/processes.md"
TRIGGERS = {
    "start": "the process starting",
    "task": "a decision on a human task",
    "system": "an automated step's result",
    "external": "a request by a person or API client",
}


class Command(BaseCommand):
    help = (
        "Print the states and transitions of process kinds, read from their FSM definitions: "
        "Graphviz dot, Mermaid, JSON, or the Markdown of docs/processes.md. Without KIND, every "
        f"registered kind. The docs are regenerated with: {DOCS_COMMAND}"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kinds", nargs="*", metavar="KIND", help="Process kind(s), e.g. purchase_order.")
        parser.add_argument(
            "--format", choices=sorted(RENDERERS), default="dot", help="Output format (default: dot)."
        )
        parser.add_argument("--output", type=Path, help="Write to this file instead of standard output.")

    def handle(self, *args: object, **options: object) -> None:
        kinds = options["kinds"] or process_kind_names()
        try:
            graphs = [process_graph(kind=kind) for kind in kinds]
        except UnknownProcessKind as error:
            raise CommandError(error.detail) from None
        text = RENDERERS[options["format"]](graphs)
        if options["output"]:
            options["output"].write_text(text)
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")


# --- Renderers ---------------------------------------------------------------------------------------------


def _label(edge: GraphEdge) -> str:
    return f"{edge.transition} ({edge.trigger}{', one of several targets' if edge.conditional else ''})"


def render_dot(graphs: list[ProcessGraph]) -> str:
    lines = []
    for graph in graphs:
        lines += [f'digraph "{graph.kind}" {{', f'  label="{graph.title} (version {graph.version})";']
        lines += ["  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
        lines += ['  "__start__" [shape=point, label=""];', f'  "__start__" -> "{graph.initial_state}";']
        lines += [f'  "{state}" [peripheries=2];' for state in graph.final_states]
        for edge in graph.edges:
            style = (
                ", style=dashed"
                if edge.conditional
                else (", color=gray40" if edge.trigger == "external" else "")
            )
            lines.append(f'  "{edge.source}" -> "{edge.target}" [label="{_label(edge)}"{style}];')
        lines += ["}", ""]
    return "\n".join(lines)


def _mermaid(graph: ProcessGraph) -> list[str]:
    lines = ["stateDiagram-v2", f"    [*] --> {graph.initial_state}"]
    lines += [f"    {edge.source} --> {edge.target}: {_label(edge)}" for edge in graph.edges]
    lines += [f"    {state} --> [*]" for state in graph.final_states]
    return lines


def render_mermaid(graphs: list[ProcessGraph]) -> str:
    return "\n\n".join("\n".join(_mermaid(graph)) for graph in graphs) + "\n"


def render_json(graphs: list[ProcessGraph]) -> str:
    return json.dumps([dataclasses.asdict(graph) for graph in graphs], indent=2) + "\n"


def _fired_by(edge: GraphEdge, graph: ProcessGraph) -> str:
    if edge.trigger == "task" and edge.decisions:
        return "; ".join(f"`{step}` decided `{outcome}`" for step, outcome in edge.decisions)
    if edge.trigger == "system":
        steps = [s["name"] for s in graph.automated_steps if s["result_transition"] == edge.transition]
        return f"result of {', '.join(f'`{s}`' for s in steps)}" if steps else TRIGGERS["system"]
    if edge.trigger == "external" and edge.permitted:
        return f"request; allowed to: {edge.permitted[0].lower()}{edge.permitted[1:]}"
    return TRIGGERS.get(edge.trigger, edge.trigger)


def _who_decides(step: dict) -> str:
    policy = step["policy"]
    rules = []
    if policy["only_requester"]:
        rules.append("only the requester")
    if policy["exclude_requester"]:
        rules.append("not the requester")
    if policy["exclude_earlier_deciders"]:
        rules.append("nobody who decided an earlier step")
    required = policy["approvals_required"]
    if required == "all":
        rules.append("every eligible member approves")
    elif required != 1:
        rules.append(f"{required} different people approve")
    return "; ".join(rules) or "anyone in the role"


def render_markdown(graphs: list[ProcessGraph]) -> str:
    roles = {role.queue: role.name for role in QUEUE_ROLES}
    out = [
        "# Process kinds",
        "",
        f"<!-- Generated from the FSM definitions by `{DOCS_COMMAND}`; do not edit by hand. -->",
        "",
        "Each process kind is a finite-state machine (apps/workflows/processes/). A transition is fired by "
        "the process starting, by a decision on a human task, by an automated step's result, or by a "
        "request (such as cancel) from a person or API client. A transition with several targets "
        "chooses one when it runs (for example by the order's amount).",
        "",
    ]
    for graph in graphs:
        out += [f"## {graph.title} (`{graph.kind}`, version {graph.version})", "", graph.description, ""]
        out += ["```mermaid", *_mermaid(graph), "```", ""]
        out += [f"Final states: {', '.join(f'`{s}`' for s in graph.final_states)}.", ""]
        out += ["### Transitions", "", "| Transition | From | To | Fired by |", "| --- | --- | --- | --- |"]
        rows: dict[tuple[str, str], list[GraphEdge]] = {}
        for edge in graph.edges:
            rows.setdefault((edge.transition, edge.source), []).append(edge)
        for (transition, source), edges in rows.items():
            targets = " or ".join(f"`{edge.target}`" for edge in edges)
            out.append(f"| `{transition}` | `{source}` | {targets} | {_fired_by(edges[0], graph)} |")
        out.append("")
        if graph.human_steps:
            out += ["### Human steps", ""]
            out += [
                "| Step | In state | Queue (role) | Outcomes | Who may decide |",
                "| --- | --- | --- | --- | --- |",
            ]
            for step in graph.human_steps:
                outcomes = ", ".join(f"`{o}` → `{t}`" for o, t in step["outcomes"].items())
                queue = f"`{step['queue']}` ({roles.get(step['queue'], step['queue'])})"
                out.append(
                    f"| `{step['name']}` | `{step['state']}` | {queue} | {outcomes} | {_who_decides(step)} |"
                )
            out.append("")
        if graph.automated_steps:
            out += ["### Automated steps", "", "| Step | In state | Result goes to |", "| --- | --- | --- |"]
            for step in graph.automated_steps:
                out.append(f"| `{step['name']}` | `{step['state']}` | `{step['result_transition']}` |")
            out.append("")
    return "\n".join(out)


RENDERERS: dict[str, Callable[[list[ProcessGraph]], str]] = {
    "dot": render_dot,
    "mermaid": render_mermaid,
    "json": render_json,
    "markdown": render_markdown,
}
