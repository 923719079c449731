"""Every instance state change writes its audit event, in the transaction of the change."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_transition
from tests.db_state import audit_actions, audit_write_refused, writes_nothing
from tests.factories import purchase_order_data, start_purchase_order
from tests.process_steps import decide, open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_start_records_the_request_and_the_first_transition(people):
    order = start_purchase_order(people["requester"])

    started, transitioned = AuditEvent.objects.filter(instance=order).order_by("seq")[:2]
    assert (started.action, started.actor, started.from_state, started.to_state) == (
        "instance.started",
        people["requester"],
        "",
        "new",
    )
    assert started.data == {
        "kind": "purchase_order",
        "definition_version": 1,
        "business_key": "PO-1",
        "data": purchase_order_data(1200),
        "requester": "requester",
    }
    assert (transitioned.action, transitioned.from_state, transitioned.to_state) == (
        "instance.transitioned",
        "new",
        "team_lead_review",
    )
    assert transitioned.data == {"transition": "start", "trigger": "start", "input": {}}
    assert transitioned.chain_key == started.chain_key == f"instance:{order.pk}"


def test_each_transition_names_its_states_trigger_actor_and_task(people):
    order = start_purchase_order(people["requester"], amount=20000)
    lead_task = open_task(order)
    decide(lead_task, people["lead"])
    instance_transition(
        instance=order, transition="cancel", actor=people["manager"], data={"reason": "Duplicate"}
    )

    transitions = AuditEvent.objects.filter(instance=order, action="instance.transitioned").order_by("seq")
    assert [(e.from_state, e.to_state, e.data["transition"], e.data["trigger"]) for e in transitions] == [
        ("new", "team_lead_review", "start", "start"),
        ("team_lead_review", "finance_review", "approve_by_team_lead", "task"),
        ("finance_review", "cancelled", "cancel", "external"),
    ]
    by_task, external = transitions[1], transitions[2]
    assert (by_task.actor, by_task.task_id) == (people["lead"], lead_task.pk)
    assert (external.actor, external.task_id, external.data["input"]) == (
        people["manager"],
        None,
        {"reason": "Duplicate"},
    )


def test_audit_chain_of_a_busy_instance_is_unbroken(people):
    order = start_purchase_order(people["requester"], amount=90000)
    decide(open_task(order), people["lead"])
    for task, approver in zip(open_tasks(order), ("finance", "finance2"), strict=True):
        decide(task, people[approver])
    decide(open_task(order), people["cfo"])
    assert audit_actions(order).count("instance.transitioned") == 4

    events = list(AuditEvent.objects.filter(instance=order).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    assert audit_chain_first_break()[1] is None


def test_refused_start_audit_leaves_no_instance(people):
    for action in ("instance.started", "instance.transitioned", "task.created"):
        with (
            writes_nothing(),
            audit_write_refused(action),
            pytest.raises(DatabaseError, match="refused for the test"),
        ):
            start_purchase_order(people["requester"], business_key=f"PO-{action}")
        assert not WorkflowInstance.objects.filter(business_key=f"PO-{action}").exists()


@pytest.mark.parametrize("action", ["instance.transitioned", "task.cancelled"])
def test_refused_transition_audit_undoes_the_transition(people, action):
    order = start_purchase_order(people["requester"])
    task = open_task(order)

    with writes_nothing(order, task), audit_write_refused(action), pytest.raises(DatabaseError):
        instance_transition(instance=order, transition="cancel", actor=people["requester"])

    assert audit_actions(order)[-1] == "task.created"
