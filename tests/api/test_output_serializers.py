"""Answers built from shallow copies of the declared fields (OutputSerializer): each answer's
fields are its own, bound to it, and the class's declared fields stay unbound templates."""

from __future__ import annotations

from datetime import datetime

import pytest

from apps.api.serializers import InstanceDetailOutput, TaskDetailOutput, TaskOutput
from apps.humantasks.models import HumanTask
from tests.factories import start_purchase_order

pytestmark = pytest.mark.django_db


def test_two_answers_share_no_bound_field_and_the_templates_stay_unbound(people):
    start_purchase_order(people["requester"], amount=1200, business_key="PO-SER-1")
    start_purchase_order(people["requester"], amount=900, business_key="PO-SER-2")
    first, second = HumanTask.objects.select_related("instance", "queue", "assignee").order_by("id")[:2]

    one, other = TaskDetailOutput(first), TaskDetailOutput(second)
    assert one.data["instance"] == first.instance_id and other.data["instance"] == second.instance_id
    assert "approve" in one.data["outcomes"] and one.data["outcomes"] == other.data["outcomes"]
    for name in ("due_at", "outcomes", "queue"):
        assert one.fields[name] is not other.fields[name]
        assert one.fields[name].parent is one and other.fields[name].parent is other
        template = TaskDetailOutput._declared_fields[name]
        assert template.parent is None and template.field_name is None


def test_a_list_answer_is_what_the_single_answers_are(people):
    for n in range(3):
        start_purchase_order(people["requester"], amount=1200 + n, business_key=f"PO-SER-L{n}")
    tasks = list(HumanTask.objects.select_related("instance", "queue", "assignee").order_by("id"))

    assert TaskOutput(tasks, many=True).data == [TaskOutput(task).data for task in tasks]


def test_times_are_rendered_in_the_zone_active_when_the_answer_is_built(people):
    from django.utils import timezone

    start_purchase_order(people["requester"], amount=1200, business_key="PO-SER-TZ")
    task = HumanTask.objects.select_related("instance", "queue", "assignee").get()

    with timezone.override("Asia/Kolkata"):
        in_kolkata = TaskOutput([task], many=True).data[0]
    with timezone.override("America/Caracas"):
        in_caracas = TaskDetailOutput(task).data
    in_utc = TaskOutput(task).data

    assert in_kolkata["due_at"].endswith("+05:30") and in_kolkata["created_at"].endswith("+05:30")
    assert in_caracas["due_at"].endswith("-04:00")
    assert in_utc["due_at"].endswith("Z")
    assert datetime.fromisoformat(in_kolkata["due_at"]) == task.due_at
    assert datetime.fromisoformat(in_caracas["due_at"]) == task.due_at


def test_nested_serializers_and_fields_with_a_child_are_still_copied_deeply():
    one, other = InstanceDetailOutput(), InstanceDetailOutput()

    assert one.fields["open_tasks"] is not other.fields["open_tasks"]
    assert one.fields["open_tasks"].child is not other.fields["open_tasks"].child
    listed = one.fields["transitions_available"]
    assert listed.child is not other.fields["transitions_available"].child
    assert listed.child.parent is listed
