"""Statements compiled once per shape answer each call with its own values, as the ORM would."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, F
from django.test.utils import CaptureQueriesContext

from apps.core.compiled import STAND_IN_ID, STAND_IN_TEXT, exists_compiled, rows_compiled, values_compiled
from apps.humantasks.models import HumanTask
from tests.factories import start_purchase_order
from tests.process_steps import open_task


def _tasks_of_instance_in_step():
    return (
        HumanTask.objects.select_related("queue", "instance")
        .annotate(queue_slug=F("queue__slug"), instances_tasks=Count("instance__tasks"))
        .filter(instance_id=STAND_IN_ID, step=STAND_IN_TEXT)
    )


def test_rows_come_back_with_their_related_rows_and_annotations_for_each_call(people):
    first = start_purchase_order(people["requester"], business_key="PO-COMPILED-1")
    second = start_purchase_order(people["requester"], business_key="PO-COMPILED-2")
    key = ("test-tasks-of-instance-in-step",)
    for order in (first, second):
        expected = open_task(order, "team_lead_approval")
        with CaptureQueriesContext(connection) as queries:
            (task,) = rows_compiled(
                key, _tasks_of_instance_in_step, {STAND_IN_ID: order.pk, STAND_IN_TEXT: "team_lead_approval"}
            )
        assert len(queries) == 1  # the queue and the instance came with the row
        assert (task.pk, task.instance.pk, task.queue.slug) == (expected.pk, order.pk, expected.queue.slug)
        assert task.queue_slug == expected.queue.slug and task.instances_tasks == 1
        assert task.due_at == expected.due_at  # converted like the ORM's (an aware datetime)
    assert rows_compiled(key, _tasks_of_instance_in_step, {STAND_IN_ID: first.pk, STAND_IN_TEXT: "cfo"}) == []


def test_exists_answers_for_the_values_given(people):
    order = start_purchase_order(people["requester"], business_key="PO-COMPILED-3")

    def of_requester():
        return HumanTask.objects.filter(instance__requester_id=STAND_IN_ID)

    key = ("test-tasks-of-requester",)
    assert exists_compiled(key, of_requester, {STAND_IN_ID: order.requester_id})
    assert not exists_compiled(key, of_requester, {STAND_IN_ID: people["lead"].pk})


def test_values_come_back_converted_for_the_values_given(people):
    order = start_purchase_order(people["requester"], business_key="PO-COMPILED-4")
    task = open_task(order, "team_lead_approval")

    def of_instance():
        return HumanTask.objects.filter(instance_id=STAND_IN_ID).values_list("pk", "due_at", "queue__slug")

    key = ("test-values-of-instance",)
    rows = values_compiled(key, of_instance, {STAND_IN_ID: order.pk})
    assert rows == [(task.pk, task.due_at, task.queue.slug)]
    assert values_compiled(key, of_instance, {STAND_IN_ID: order.pk + 1000}) == []


def test_a_person_s_permissions_and_visible_queues_are_read_for_that_person(people):
    from apps.accounts.models import User
    from apps.humantasks.selectors import _queue_ids_visible_to, queues_visible_to

    for person in (people["lead"], people["requester"], people["auditor"]):
        fresh = User.objects.get(pk=person.pk)
        expected = {f"{p.content_type.app_label}.{p.codename}" for p in fresh.user_permissions.all()} | {
            f"{p.content_type.app_label}.{p.codename}"
            for group in fresh.groups.all()
            for p in group.permissions.all()
        }
        assert fresh.get_all_permissions() == expected
        assert sorted(_queue_ids_visible_to(fresh)) == sorted(
            queues_visible_to(user=fresh).values_list("pk", flat=True)
        )
