"""Every task action writes its audit event, in the transaction of the action; the
task.completed event names the step's decision policy."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from apps.audit.models import AuditEvent
from apps.humantasks.services import (
    task_cancel,
    task_claim,
    task_complete,
    task_delegate,
    task_grant,
    task_reassign,
    task_unclaim,
)
from apps.workflows.processes import PurchaseOrderApproval
from tests.db_state import audit_write_refused, writes_nothing
from tests.factories import start_purchase_order
from tests.process_steps import open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def events_since(event_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=event_id).order_by("id"))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def summary(event: AuditEvent) -> tuple:
    return (event.action, event.actor.username if event.actor else None, event.from_state, event.to_state)


@pytest.fixture
def order(people):
    return start_purchase_order(people["requester"], amount=20000, business_key="PO-1")


def test_every_task_action_writes_its_event(people, queues, order):
    task = open_task(order)
    created = AuditEvent.objects.get(task=task, action="task.created")
    assert (created.to_state, created.data["step"], created.data["queue"]) == (
        "open",
        "team_lead_approval",
        "team-leads",
    )
    assert created.data["policy"] == PurchaseOrderApproval.human_step("team_lead_approval").policy.describe()

    mark = last_event_id()
    task_claim(task=task, actor=people["lead"])
    task_unclaim(task=task, actor=people["lead"])
    task_claim(task=task, actor=people["lead"])
    task_delegate(task=task, actor=people["lead"], to_user=people["lead2"], reason="Travelling")
    task_reassign(task=task, actor=people["manager"], to_user=people["lead"], reason="Back early")
    task_reassign(task=task, actor=people["manager"], to_queue=queues["cfo"], reason="Escalate")
    task_reassign(task=task, actor=people["manager"], to_queue=queues["team-leads"], reason="De-escalate")
    task_grant(task=task, user=people["cfo"], actor=people["manager"], can_work=False)

    events = events_since(mark)
    assert [summary(e) for e in events] == [
        ("task.claimed", "lead", "open", "claimed"),
        ("task.unclaimed", "lead", "claimed", "open"),
        ("task.claimed", "lead", "open", "claimed"),
        ("task.delegated", "lead", "claimed", "claimed"),
        ("task.reassigned", "manager", "claimed", "claimed"),
        ("task.reassigned", "manager", "claimed", "open"),
        ("task.reassigned", "manager", "open", "open"),
        ("task.access_granted", "manager", "", ""),
    ]
    assert all(e.task_id == task.pk and e.instance_id == order.pk for e in events)
    assert events[1].data == {"previous_assignee": "lead"}
    assert events[3].data == {"reason": "Travelling", "to_assignee": "lead2"}
    assert events[4].data == {
        "reason": "Back early",
        "from_queue": "team-leads",
        "to_queue": "team-leads",
        "from_assignee": "lead2",
        "to_assignee": "lead",
    }
    assert (events[5].data["to_queue"], events[5].data["to_assignee"]) == ("cfo", None)
    assert events[7].data == {"user": "cfo", "work": False}


def test_completed_event_names_the_step_policy_and_the_quorum(people, order):
    decide_lead = task_complete(task=open_task(order), actor=people["lead"], outcome="approve", comment="OK")
    first, second = open_tasks(order)
    mark = last_event_id()

    task_complete(task=first, actor=people["finance"], outcome="approve")

    [completed] = events_since(mark)  # one of two approvals: no transition yet
    finance_policy = PurchaseOrderApproval.human_step("finance_approval").policy
    assert completed.data == {
        "step": "finance_approval",
        "outcome": "approve",
        "data": {},
        "comment": "",
        "policy": finance_policy.describe(),
        "approvals": 1,
        "approvals_required": 2,
        "step_decided": False,
    }
    assert completed.data["policy"]["approvals_required"] == 2

    mark = last_event_id()
    task_complete(task=second, actor=people["finance2"], outcome="approve")
    assert [summary(e) for e in events_since(mark)] == [
        ("task.completed", "finance2", "open", "completed"),
        ("instance.transitioned", "finance2", "finance_review", "approved"),
    ]
    lead_event = AuditEvent.objects.get(task=decide_lead, action="task.completed")
    assert lead_event.data["policy"] == {
        "exclude_requester": True,
        "exclude_earlier_deciders": True,
        "only_requester": False,
        "approvals_required": 1,
    }
    assert lead_event.data["comment"] == "OK"


def test_revision_task_is_granted_to_the_requester_with_an_event(people, order):
    task_complete(task=open_task(order), actor=people["lead"], outcome="request_changes", comment="Cheaper")

    revise = open_task(order)
    created, granted = AuditEvent.objects.filter(task=revise).order_by("seq")
    assert (created.action, created.to_state, created.data["policy"]["only_requester"]) == (
        "task.created",
        "claimed",
        True,
    )
    assert (granted.action, granted.actor, granted.data) == (
        "task.access_granted",
        None,
        {"user": "requester", "work": True},
    )


def test_cancelling_writes_a_cancel_event_per_open_task(people, order):
    task_complete(task=open_task(order), actor=people["lead"], outcome="approve")
    first, second = open_tasks(order)
    mark = last_event_id()

    task_cancel(task=first, actor=people["manager"], reason="Supplier went bust")

    events = events_since(mark)
    assert [summary(e) for e in events] == [
        ("instance.transitioned", "manager", "finance_review", "cancelled"),
        ("task.cancelled", "manager", "open", "cancelled"),
        ("task.cancelled", "manager", "open", "cancelled"),
    ]
    assert {e.task_id for e in events[1:]} == {first.pk, second.pk}
    assert events[0].data["input"] == {"reason": "Supplier went bust"}
    assert events[1].data == {"reason": "process moved to 'cancelled'"}


# action -> (does the lead claim the task first?, the action on the task)
ACTIONS = {
    "task.claimed": (False, lambda p, q, t: task_claim(task=t, actor=p["lead"])),
    "task.unclaimed": (True, lambda p, q, t: task_unclaim(task=t, actor=p["lead"])),
    "task.delegated": (True, lambda p, q, t: task_delegate(task=t, actor=p["lead"], to_user=p["lead2"])),
    "task.reassigned": (
        False,
        lambda p, q, t: task_reassign(task=t, actor=p["manager"], to_queue=q["cfo"], reason="Up"),
    ),
    "task.completed": (False, lambda p, q, t: task_complete(task=t, actor=p["lead"], outcome="approve")),
    "task.access_granted": (False, lambda p, q, t: task_grant(task=t, user=p["cfo"], actor=p["manager"])),
    "task.cancelled": (False, lambda p, q, t: task_cancel(task=t, actor=p["manager"], reason="Duplicate")),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_task_action_is_undone_when_its_audit_event_cannot_be_written(people, queues, order, action):
    claim_first, act = ACTIONS[action]
    if claim_first:
        task_claim(task=open_task(order), actor=people["lead"])
    task = open_task(order)

    with writes_nothing(order, task), audit_write_refused(action), pytest.raises(DatabaseError):
        act(people, queues, task)
