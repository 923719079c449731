"""Managers change a task's priority or due time, with a reason; audited, versioned,
refused to everyone else and on closed tasks. The API answers the same."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.errors import InvalidDecision, NotFound, NotPermitted, StaleVersion, TaskClosed
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_complete, task_due_change, task_priority_change
from apps.workflows.services import instance_start
from tests.factories import purchase_order_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(people) -> HumanTask:
    order = instance_start(
        kind="purchase_order", business_key="PO-1", data=purchase_order_data(), actor=people["requester"]
    )
    return HumanTask.objects.get(instance=order)


def test_a_manager_changes_priority_with_a_reason(task, people):
    changed = task_priority_change(task=task, actor=people["manager"], priority=80, reason="Quarter end")
    assert (changed.priority, changed.version) == (80, 2)
    event = AuditEvent.objects.get(action="task.priority_changed")
    assert event.data == {"reason": "Quarter end", "from_priority": 50, "to_priority": 80}


def test_a_manager_moves_the_due_time_and_the_timers_may_act_again(task, people):
    HumanTask.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    new_due = timezone.now() + timedelta(days=5)
    changed = task_due_change(task=task, actor=people["manager"], due_at=new_due, reason="Supplier late")
    assert changed.due_at == new_due and changed.reminded_at is None and changed.version == 2
    assert AuditEvent.objects.get(action="task.due_changed").data["reason"] == "Supplier late"


@pytest.mark.parametrize(
    "who,error",
    [("lead", NotPermitted), ("finance", NotFound), ("outsider", NotFound), ("requester", NotFound)],
)
def test_nobody_else_changes_them(task, people, who, error):
    with pytest.raises(error):
        task_priority_change(task=task, actor=people[who], priority=70, reason="r")
    with pytest.raises(error):
        task_due_change(task=task, actor=people[who], due_at=timezone.now(), reason="r")
    task.refresh_from_db()
    assert (task.priority, task.version) == (50, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"priority": 101, "reason": "r"},
        {"priority": -1, "reason": "r"},
        {"priority": True, "reason": "r"},
        {"priority": 70, "reason": "  "},
        {"priority": 50, "reason": "unchanged"},
    ],
)
def test_bad_priorities_are_refused(task, people, kwargs):
    with pytest.raises(InvalidDecision):
        task_priority_change(task=task, actor=people["manager"], **kwargs)
    assert AuditEvent.objects.filter(action="task.priority_changed").count() == 0


def test_a_naive_due_time_a_stale_version_and_a_closed_task_are_refused(task, people):
    with pytest.raises(InvalidDecision):
        task_due_change(task=task, actor=people["manager"], due_at=datetime(2030, 1, 1), reason="r")
    with pytest.raises(StaleVersion):
        task_priority_change(task=task, actor=people["manager"], priority=60, reason="r", expected_version=9)
    task_complete(task=task, actor=people["lead"], outcome="approve")
    with pytest.raises(TaskClosed):
        task_priority_change(task=task, actor=people["manager"], priority=60, reason="r")


def test_the_api_changes_priority_and_due_time_too(task, people):
    api = APIClient()
    api.force_authenticate(people["manager"])
    response = api.post(
        f"/api/v1/tasks/{task.pk}/priority/", {"priority": 90, "reason": "Urgent"}, format="json"
    )
    assert response.status_code == 200 and response.json()["priority"] == 90
    due = api.post(
        f"/api/v1/tasks/{task.pk}/due/", {"due_at": "2030-01-01T09:00:00Z", "reason": "Later"}, format="json"
    )
    assert due.status_code == 200
    lead = APIClient()
    lead.force_authenticate(people["lead"])
    refused = lead.post(f"/api/v1/tasks/{task.pk}/priority/", {"priority": 10, "reason": "x"}, format="json")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    bad = api.post(f"/api/v1/tasks/{task.pk}/priority/", {"priority": 500, "reason": "x"}, format="json")
    assert bad.status_code == 400
