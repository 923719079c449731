"""The process diagram: drawn from the definitions, accessible, CSP-safe, with an instance's path."""

from __future__ import annotations

from types import SimpleNamespace
from xml.etree import ElementTree

import pytest

from apps.workflows.diagram import process_diagram_svg, state_label, states_visited
from apps.workflows.registry import process_kind_names
from apps.workflows.selectors import process_graph
from tests.oversight.conftest import rejected_order

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


@pytest.mark.parametrize("kind", process_kind_names())
def test_every_state_is_a_labelled_box_and_every_move_an_arrow(kind):
    graph = process_graph(kind=kind)
    root = parse(process_diagram_svg(graph))

    boxes = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert set(boxes) == set(graph.states)
    for state, box in boxes.items():
        assert box.find(f"{SVG}text").text == state_label(state)
    arrows = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("data-from")}
    assert arrows == {(e.source, e.target) for e in graph.edges}


def test_the_drawing_is_accessible_and_has_no_inline_styles():
    svg = process_diagram_svg(process_graph(kind="purchase_order"), current="cfo_review")
    root = parse(svg)

    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"{SVG}title").get("id") == title_id
    assert "now CFO review" in root.find(f"{SVG}title").text
    assert root.find(f"{SVG}desc").get("id") == desc_id
    assert "Current state: CFO review." in root.find(f"{SVG}desc").text
    # A strict CSP refuses style attributes and <style> elements; none may appear.
    assert all("style" not in element.attrib for element in root.iter())
    assert root.find(f".//{SVG}style") is None
    assert "<script" not in svg


def test_an_instance_shows_its_current_state_and_the_path_it_took():
    path = ["new", "team_lead_review", "finance_review", "rejected"]
    root = parse(process_diagram_svg(process_graph(kind="purchase_order"), current="rejected", visited=path))

    looks = {
        g.get("data-state"): g.get("class").split()[0] for g in root.iter(f"{SVG}g") if g.get("data-state")
    }
    assert looks["rejected"] == "state-current"
    assert {s for s, look in looks.items() if look == "state-visited"} == set(path) - {"rejected"}
    assert looks["approved"] == "state"
    taken = {
        (p.get("data-from"), p.get("data-to"))
        for p in root.iter(f"{SVG}path")
        if p.get("class") == "edge-taken"
    }
    assert taken == {
        ("new", "team_lead_review"),
        ("team_lead_review", "finance_review"),
        ("finance_review", "rejected"),
    }


def event(action: str, from_state: str = "", to_state: str = "") -> SimpleNamespace:
    return SimpleNamespace(action=action, from_state=from_state, to_state=to_state)


def test_the_path_comes_from_the_start_and_transition_events_only():
    events = [
        event("instance.started", to_state="new"),
        event("instance.transitioned", "new", "in_progress"),
        event("task.completed", "claimed", "completed"),
        event("instance.transitioned", "in_progress", "in_progress"),
        event("instance.transitioned", "in_progress", "completed"),
    ]
    assert states_visited(events) == ["new", "in_progress", "completed"]


def test_names_read_as_people_say_them():
    assert state_label("cfo_review") == "CFO review"
    assert state_label("team_lead_review") == "Team lead review"
    assert state_label("it_setup") == "IT setup"


@pytest.mark.django_db
def test_a_rejected_order_has_its_path_from_its_history(people):
    from apps.audit.selectors import audit_events_of_instance

    order = rejected_order(people)
    assert states_visited(audit_events_of_instance(instance=order)) == [
        "new",
        "team_lead_review",
        "finance_review",
        "rejected",
    ]
