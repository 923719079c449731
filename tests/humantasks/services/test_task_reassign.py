"""task_reassign: a queue manager moves a task to a person who may decide it, or to a queue."""

from __future__ import annotations

import pytest

from apps.core.errors import DecisionRefused, InvalidDecision, NotPermitted, TaskClosed
from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_claim, task_reassign
from tests.db_state import writes_nothing
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_manager_reassigns_a_claimed_task_to_a_colleague(people, order):
    task = task_claim(task=open_task(order), actor=people["lead"])

    moved = task_reassign(
        task=task, actor=people["manager"], to_user=people["lead2"], reason="Lead is on leave"
    )

    assert (moved.state, moved.assignee) == ("claimed", people["lead2"])
    decide(moved, people["lead2"])


def test_manager_moves_a_task_to_another_queue(people, order, queues):
    task = task_claim(task=open_task(order), actor=people["lead"])

    moved = task_reassign(task=task, actor=people["manager"], to_queue=queues["cfo"], reason="Escalated")

    assert (moved.state, moved.assignee, moved.queue.slug) == ("open", None, "cfo")
    assert [t.pk for t in inbox_for(user=people["cfo"]).tasks] == [task.pk]
    assert inbox_for(user=people["lead"]).tasks == []


@pytest.mark.parametrize(
    ("target", "reason", "error", "message"),
    [
        pytest.param({}, "Workload", InvalidDecision, "not both or neither", id="no-target"),
        pytest.param(
            {"to_user": "lead2", "to_queue": "cfo"}, "Workload", InvalidDecision, "not both", id="both"
        ),
        pytest.param({"to_user": "lead2"}, "", InvalidDecision, "reason is required", id="no-reason"),
        pytest.param({"to_user": "lead2"}, "   ", InvalidDecision, "reason is required", id="blank-reason"),
        pytest.param({"to_user": "lead2"}, None, InvalidDecision, "reason is required", id="reason-none"),
        pytest.param({"to_user": "lead2"}, 7, InvalidDecision, "must be text", id="reason-number"),
        pytest.param({"to_user": "lead2"}, "x" * 1001, InvalidDecision, "too long", id="reason-long"),
        pytest.param({"to_user": "finance"}, "Workload", InvalidDecision, "does not work", id="outside-role"),
        pytest.param({"to_user": "outsider"}, "Workload", InvalidDecision, "does not work", id="outsider"),
        pytest.param(
            {"to_user": "inactive_lead"}, "Workload", InvalidDecision, "does not work", id="inactive"
        ),
        pytest.param(
            {"to_user": "lead_requester"}, "Workload", DecisionRefused, "Four-eyes", id="the-requester"
        ),
        pytest.param(
            {"to_queue": "team-leads"}, "Workload", InvalidDecision, "already in that queue", id="same"
        ),
    ],
)
def test_bad_reassignments_are_refused_and_write_nothing(
    people, make_user, queues, target, reason, error, message
):
    people["inactive_lead"] = make_user("Team leads", username="inactive_lead", is_active=False)
    people["lead_requester"] = make_user("Requesters", "Team leads", username="lead_requester")
    order = start_purchase_order(people["lead_requester"], business_key="PO-9")
    task = task_claim(task=open_task(order), actor=people["lead"])
    resolved = {
        "to_user": people[target["to_user"]] if "to_user" in target else None,
        "to_queue": queues[target["to_queue"]] if "to_queue" in target else None,
    }

    with writes_nothing(order, task), pytest.raises(error, match=message):
        task_reassign(task=task, actor=people["manager"], reason=reason, **resolved)


@pytest.mark.parametrize("who", ["lead", "lead2", "auditor"])
def test_only_managers_reassign(people, order, who):
    task = task_claim(task=open_task(order), actor=people["lead"])

    with writes_nothing(order, task), pytest.raises(NotPermitted, match="Only a manager"):
        task_reassign(task=task, actor=people[who], to_user=people["lead2"], reason="Workload")


def test_closed_task_cannot_be_reassigned(people, order):
    task = decide(open_task(order), people["lead"])

    with writes_nothing(order, task), pytest.raises(TaskClosed):
        task_reassign(task=task, actor=people["manager"], to_user=people["lead2"], reason="Too late")


def test_a_manager_moves_tasks_only_to_queues_they_manage(people, order):
    from django.contrib.auth.models import Group

    from apps.humantasks.services import queue_create

    elsewhere = queue_create(
        slug="elsewhere",
        name="Elsewhere",
        role=Group.objects.get(name="Finance"),
        managers=Group.objects.create(name="Other managers"),
        actor=None,
    )
    task = open_task(order)

    refused = pytest.raises(NotPermitted, match="do not manage the queue 'Elsewhere'")
    with writes_nothing(order, task), refused:
        task_reassign(task=task, actor=people["manager"], to_queue=elsewhere, reason="Not mine to give")
