from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.core.errors import UnknownProcessKind
from apps.workflows.registry import definition_latest, process_kind_names
from apps.workflows.selectors import process_graph

KINDS = ("purchase_order", "account_activation", "employee_onboarding")


def run(*args: str) -> str:
    out = StringIO()
    call_command("process_graph", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("kind", KINDS)
def test_every_fsm_transition_and_step_outcome_is_an_edge(kind):
    graph = process_graph(kind=kind)
    definition = definition_latest(kind)
    declared = {
        (t.name, t.source) for t in definition._meta.get_field("state").get_all_transitions(definition)
    }

    assert {(edge.transition, edge.source) for edge in graph.edges} == declared
    for step in definition.human_steps:
        for outcome, transition in step.outcomes.items():
            assert any(
                e.transition == transition and e.source == step.state and (step.name, outcome) in e.decisions
                for e in graph.edges
            ), (step.name, outcome)


@pytest.mark.parametrize("kind", KINDS)
def test_every_state_is_reachable_and_final_states_lead_nowhere(kind):
    graph = process_graph(kind=kind)
    reached, frontier = {graph.initial_state}, {graph.initial_state}
    while frontier:
        frontier = {e.target for e in graph.edges if e.source in frontier} - reached
        reached |= frontier

    assert reached == set(graph.states)
    assert set(graph.final_states) <= reached
    assert not [e for e in graph.edges if e.source in graph.final_states]


def test_return_value_transitions_show_each_possible_target():
    graph = process_graph(kind="purchase_order")

    by_team_lead = {(e.target, e.conditional) for e in graph.edges if e.transition == "approve_by_team_lead"}
    by_finance = {(e.target, e.conditional) for e in graph.edges if e.transition == "approve_by_finance"}
    assert by_team_lead == {("approved", True), ("finance_review", True)}
    assert by_finance == {("approved", True), ("cfo_review", True)}
    cancel = [e for e in graph.edges if e.transition == "cancel"]
    assert cancel and all(e.trigger == "external" and "requester" in e.permitted for e in cancel)


def test_unknown_kinds_are_refused_clearly():
    with pytest.raises(UnknownProcessKind):
        process_graph(kind="no_such_kind")
    with pytest.raises(CommandError, match="Unknown process kind 'no_such_kind'"):
        run("no_such_kind")


def test_formats():
    dot = run("employee_onboarding")
    assert dot.startswith('digraph "employee_onboarding" {')
    assert '"in_progress" -> "completed"' in dot

    mermaid = run("employee_onboarding", "--format", "mermaid")
    assert mermaid.splitlines()[:2] == ["stateDiagram-v2", "    [*] --> new"]
    assert "    completed --> [*]" in mermaid

    as_json = json.loads(run("--format", "json"))
    assert [graph["kind"] for graph in as_json] == process_kind_names()
    onboarding = next(graph for graph in as_json if graph["kind"] == "employee_onboarding")
    assert {edge["transition"] for edge in onboarding["edges"]} == {"start", "record_task_done", "cancel"}


def test_docs_processes_md_is_generated_from_the_definitions():
    committed = (Path(settings.BASE_DIR) / "docs" / "processes.md").read_text()

    assert committed == run("--format", "markdown"), (
        "docs/processes.md is out of date; regenerate it with "
        "`python3 manage.py process_graph --format markdown --output docs/processes.md`"
    )
