"""The SLA timers beat runs: escalation of overdue tasks, reminders, release of stale claims.

Time is passed to the services as `now` (the moment beat fires); each action must happen
once per task even when two beat processes fire at the same moment.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.services import queue_create, task_claim
from apps.humantasks.timers import claims_release_stale, tasks_escalate_overdue, tasks_remind_assignees
from apps.notifications.models import OutboxMessage
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task
from tests.racing import run_together

pytestmark = [pytest.mark.postgres]


def order(people, key="PO-1"):
    instance = start_purchase_order(people["requester"], amount=100, business_key=key)
    return instance, open_task(instance)


def actions(task):
    return list(AuditEvent.objects.filter(task=task).order_by("id").values_list("action", flat=True))


def outbox(topic):
    return list(OutboxMessage.objects.filter(topic=topic).order_by("id"))


@pytest.mark.django_db
def test_an_overdue_task_is_escalated_once_and_the_managers_are_told(people):
    _instance, task = order(people)
    queue = task.queue

    assert tasks_escalate_overdue(now=task.due_at - timedelta(minutes=1)) == 0
    assert tasks_escalate_overdue(now=task.due_at + timedelta(minutes=1)) == 1
    assert tasks_escalate_overdue(now=task.due_at + timedelta(hours=5)) == 0

    task.refresh_from_db()
    assert task.priority == 70  # 50 + the default boost of 20
    assert task.escalated_at == task.due_at + timedelta(minutes=1)
    assert task.queue == queue and task.state == "open"
    assert actions(task).count("task.escalated") == 1
    [message] = outbox("task.escalated")
    # The managers are told; the queue's members see the row's new priority.
    assert message.payload["notify_groups"] == sorted([f"role-{queue.managers_id}", f"queue-{queue.pk}"])
    assert message.payload["task"] == task.pk
    assert message.payload["title"] == task.title


@pytest.mark.django_db
def test_managers_told_of_a_late_confidential_task_do_not_learn_its_title(people):
    _instance, task = order(people)
    HumanTask.objects.filter(pk=task.pk).update(is_confidential=True)

    assert tasks_escalate_overdue(now=task.due_at + timedelta(minutes=1)) == 1

    [message] = outbox("task.escalated")
    assert message.payload["title"] == "A confidential task"
    assert task.title not in str(message.payload)


@pytest.mark.django_db
def test_the_queue_policy_moves_an_overdue_claimed_task_to_its_escalation_queue(people):
    _instance, task = order(people)
    team_leads = Queue.objects.get(slug="team-leads")
    escalations = queue_create(
        slug="escalations",
        name="Escalations",
        role=Group.objects.get(name="Managers"),
        managers=Group.objects.get(name="Managers"),
        actor=None,
    )
    Queue.objects.filter(pk=team_leads.pk).update(sla_escalation_queue=escalations, sla_priority_boost=45)
    task_claim(task=task, actor=people["lead"])

    assert tasks_escalate_overdue(now=task.due_at + timedelta(seconds=1)) == 1

    task.refresh_from_db()
    assert (task.queue, task.state, task.assignee, task.priority) == (escalations, "open", None, 95)
    event = AuditEvent.objects.get(task=task, action="task.escalated")
    assert event.data["previous_assignee"] == "lead"
    assert (event.data["queue"], event.data["to_queue"]) == ("team-leads", "escalations")


@pytest.mark.django_db
def test_closed_tasks_are_never_escalated(people):
    _instance, task = order(people)
    decide(task, people["lead"], "approve")
    assert tasks_escalate_overdue(now=task.due_at + timedelta(days=1)) == 0


@pytest.mark.django_db
def test_the_assignee_is_reminded_once_before_the_due_time(people):
    _instance, task = order(people)
    task_claim(task=task, actor=people["lead"])

    assert tasks_remind_assignees(now=task.due_at - timedelta(hours=5)) == 0  # window is 4 hours
    assert tasks_remind_assignees(now=task.due_at - timedelta(hours=3)) == 1
    assert tasks_remind_assignees(now=task.due_at - timedelta(hours=1)) == 0

    [message] = outbox("task.reminder")
    assert message.payload["assignee"] == "lead"
    assert message.payload["notify_groups"] == [f"user-{people['lead'].pk}"]
    assert actions(task).count("task.reminder_sent") == 1


@pytest.mark.django_db
def test_unclaimed_tasks_get_no_reminder(people):
    _instance, task = order(people)
    assert tasks_remind_assignees(now=task.due_at - timedelta(hours=1)) == 0


@pytest.mark.django_db
def test_a_stale_claim_goes_back_to_the_queue(people):
    _instance, task = order(people)
    task_claim(task=task, actor=people["lead"])
    claimed_at = timezone.now()

    assert claims_release_stale(now=claimed_at + timedelta(hours=7)) == 0
    assert claims_release_stale(now=claimed_at + timedelta(hours=9)) == 1
    assert claims_release_stale(now=claimed_at + timedelta(hours=10)) == 0

    task.refresh_from_db()
    assert (task.state, task.assignee, task.claimed_at) == ("open", None, None)
    event = AuditEvent.objects.get(task=task, action="task.claim_released")
    assert event.actor_type == "system" and event.data["previous_assignee"] == "lead"


@pytest.mark.django_db
def test_a_requesters_own_task_is_not_taken_from_them(people):
    instance, task = order(people)
    decide(task, people["lead"], "request_changes", comment="Wrong supplier")
    revise = open_task(instance)
    assert revise.state == "claimed" and revise.assignee == people["requester"]

    assert claims_release_stale(now=timezone.now() + timedelta(days=3)) == 0
    revise.refresh_from_db()
    assert revise.assignee == people["requester"]


@pytest.mark.django_db(transaction=True)
def test_two_beats_firing_at_once_escalate_and_release_each_task_once(people):
    tasks = [order(people, key=f"PO-{n}")[1] for n in range(6)]
    for task in tasks[:3]:
        task_claim(task=task, actor=people["lead"])
    later = max(t.due_at for t in tasks) + timedelta(hours=1)

    escalated = run_together(*[lambda: tasks_escalate_overdue(now=later)] * 2)
    released = run_together(*[lambda: claims_release_stale(now=later)] * 2)

    assert [o.error for o in escalated + released] == [None] * 4
    assert sum(o.value for o in escalated) == 6
    assert sum(o.value for o in released) == 3
    assert AuditEvent.objects.filter(action="task.escalated").count() == 6
    assert AuditEvent.objects.filter(action="task.claim_released").count() == 3
    assert len(outbox("task.escalated")) == 6
    assert set(HumanTask.objects.values_list("priority", flat=True)) == {70}
