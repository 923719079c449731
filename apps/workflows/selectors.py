"""Reads of workflow instances and of the process kinds' declarations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django_fsm import RETURN_VALUE

from apps.core.errors import NotFound, UnknownProcessKind
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import definition_latest, process_kinds_latest

if TYPE_CHECKING:
    from apps.accounts.models import User

# Largest value a PostgreSQL bigint primary key holds; beyond it a lookup is a database error, not a miss.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class InstanceFilters:
    kinds: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    business_key: str = ""
    started_after: datetime | None = None
    started_before: datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.kinds:
            q &= Q(kind__in=self.kinds)
        if self.states:
            q &= Q(state__in=self.states)
        if self.business_key:
            q &= Q(business_key=self.business_key)
        if self.started_after is not None:
            q &= Q(created_at__gte=self.started_after)
        if self.started_before is not None:
            q &= Q(created_at__lt=self.started_before)
        return q


def instance_transitions_available(*, instance: WorkflowInstance, user: User) -> list[str]:
    """The external transitions `user` may fire on `instance` in its current state."""
    return sorted(
        {
            transition.name
            for transition in instance.get_available_user_state_transitions(user)
            if transition.custom.get("trigger") == "external"
        }
    )


# --- Process kinds ---------------------------------------------------------------------------------------


def _targets(target: Any) -> list[str]:
    if isinstance(target, RETURN_VALUE):
        return list(target.allowed_states or [])
    return [target] if target is not None else []


def process_kind_describe(definition: type[WorkflowInstance]) -> dict[str, Any]:
    """A kind's contract for API clients: its data schema, states, transitions and human steps."""
    transitions: dict[str, dict[str, Any]] = {}
    states: list[str] = [WorkflowInstance.INITIAL_STATE]
    for transition in definition._meta.get_field("state").get_all_transitions(definition):
        entry = transitions.setdefault(
            transition.name,
            {
                "name": transition.name,
                "trigger": transition.custom.get("trigger", ""),
                "external": transition.custom.get("trigger") == "external",
                "sources": [],
                "targets": [],
            },
        )
        for state in [transition.source, *_targets(transition.target)]:
            if state not in ("*", "+") and state not in states:
                states.append(state)
        if transition.source not in entry["sources"]:
            entry["sources"].append(transition.source)
        for target in _targets(transition.target):
            if target not in entry["targets"]:
                entry["targets"].append(target)
    for state in sorted(definition.final_states):
        if state not in states:
            states.append(state)
    return {
        "name": definition.process_name,
        "title": definition.process_title,
        "version": definition.process_version,
        "description": " ".join((definition.__doc__ or "").split()),
        "data_schema": definition.data_schema,
        "states": states,
        "initial_state": WorkflowInstance.INITIAL_STATE,
        "final_states": sorted(definition.final_states),
        "transitions": list(transitions.values()),
        "human_steps": [
            {
                "name": step.name,
                "state": step.state,
                "queue": step.queue,
                "title": step.title,
                "outcomes": dict(step.outcomes),
                "approving_outcome": step.approving_outcome,
                "comment_required_for": list(step.comment_required_for),
                "decision_schema": dict(step.decision_schema),
                "policy": step.policy.describe(),
                "due_in_seconds": int(step.due_in.total_seconds()),
                "confidential": step.confidential,
            }
            for step in definition.human_steps
        ],
        "automated_steps": [
            {"name": step.name, "state": step.state, "result_transition": step.result_transition}
            for step in definition.automated_steps
        ],
    }


def process_kinds_described() -> list[dict[str, Any]]:
    return [process_kind_describe(definition) for definition in process_kinds_latest()]


def process_kind_described(*, name: str) -> dict[str, Any]:
    try:
        return process_kind_describe(definition_latest(name))
    except UnknownProcessKind as error:
        raise NotFound(error.detail) from None


# --- Process graphs (manage.py process_graph, docs/processes.md) -----------------------------------------


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    transition: str
    trigger: str
    # Several possible targets (django-fsm RETURN_VALUE): the transition picks one when it runs.
    conditional: bool
    # For task-triggered transitions: the (step, outcome) pairs whose decision fires it.
    decisions: tuple[tuple[str, str], ...] = ()
    # For external transitions: who may request it (the first line of its permission's docstring).
    permitted: str = ""


@dataclass(frozen=True)
class ProcessGraph:
    kind: str
    title: str
    version: int
    description: str
    states: tuple[str, ...]
    initial_state: str
    final_states: tuple[str, ...]
    edges: tuple[GraphEdge, ...]
    human_steps: tuple[dict[str, Any], ...]
    automated_steps: tuple[dict[str, Any], ...]


def process_graph(*, kind: str) -> ProcessGraph:
    """The newest definition of `kind` as a graph of states and transitions, read from its
    django-fsm transitions (every possible target of a RETURN_VALUE transition is an edge).

    Raises UnknownProcessKind for a kind that is not registered.
    """
    definition = definition_latest(kind)
    described = process_kind_describe(definition)
    states = [state for state in described["states"] if state not in ("*", "+")]
    permitted = {
        transition.name: (getattr(transition.permission, "__doc__", None) or "").strip().splitlines()[0]
        for transition in definition._meta.get_field("state").get_all_transitions(definition)
        if callable(transition.permission) and getattr(transition.permission, "__doc__", None)
    }
    decisions: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for step in described["human_steps"]:
        for outcome, transition in step["outcomes"].items():
            decisions.setdefault((transition, step["state"]), []).append((step["name"], outcome))
    edges = []
    for transition in described["transitions"]:
        sources = [s for s in transition["sources"] if s not in ("*", "+")]
        if "*" in transition["sources"] or "+" in transition["sources"]:
            sources += [s for s in states if s not in sources and s not in described["final_states"]]
        for source in sources:
            for target in transition["targets"]:
                edges.append(
                    GraphEdge(
                        source=source,
                        target=target,
                        transition=transition["name"],
                        trigger=transition["trigger"],
                        conditional=len(transition["targets"]) > 1,
                        decisions=tuple(decisions.get((transition["name"], source), ())),
                        permitted=permitted.get(transition["name"], ""),
                    )
                )
    order = _states_in_flow_order(described["initial_state"], states, edges)
    edges.sort(key=lambda e: (order.index(e.source), order.index(e.target), e.transition))
    return ProcessGraph(
        kind=described["name"],
        title=described["title"],
        version=described["version"],
        description=described["description"],
        states=tuple(order),
        initial_state=described["initial_state"],
        final_states=tuple(described["final_states"]),
        edges=tuple(edges),
        human_steps=tuple(described["human_steps"]),
        automated_steps=tuple(described["automated_steps"]),
    )


def _states_in_flow_order(initial: str, states: list[str], edges: list[GraphEdge]) -> list[str]:
    """States breadth-first from the initial one along the process's own moves, then those
    only a request (such as cancel) reaches, so documents read in the order a process lives."""
    ordered = [initial]
    for usable in ([e for e in edges if e.trigger != "external"], edges):
        frontier = list(ordered)
        while frontier:
            reached = [e.target for e in usable if e.source in frontier and e.target not in ordered]
            frontier = list(dict.fromkeys(reached))
            ordered += frontier
    return ordered + [state for state in states if state not in ordered]


def kinds_startable_by(*, user: User) -> list[type[WorkflowInstance]]:
    """The process kinds `user` may start, by title (one query per kind that names its roles)."""
    return sorted((d for d in process_kinds_latest() if d.may_start(user)), key=lambda d: d.process_title)


BUSINESS_KEY_DIGITS = 6


def business_key_next(*, kind: str, year: int) -> str:
    """The next proposed business key of `kind` for `year`: PO-2026-000001, PO-2026-000002, ...

    Read from the highest key of that shape (the unique index on kind and business key
    answers it); two people starting at once may be proposed the same key, and the caller
    takes the next one when the start says it is already used.
    """
    definition = definition_latest(kind)
    prefix = f"{definition.business_key_prefix or definition.process_name.upper()}-{year}-"
    last = (
        WorkflowInstance.objects.filter(kind=kind, business_key__startswith=prefix)
        .filter(business_key__regex=rf"^{prefix}[0-9]{{{BUSINESS_KEY_DIGITS}}}$")
        .order_by("-business_key")
        .values_list("business_key", flat=True)
        .first()
    )
    number = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{number:0{BUSINESS_KEY_DIGITS}d}"
