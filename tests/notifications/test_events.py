"""The event catalogue and its producers: every task and instance change writes one event
to the outbox, addressed to the groups that may see it now, and valid against its type's
schema (docs/events.md)."""

from __future__ import annotations

import jsonschema
import pytest
from django.db import transaction

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_delegate, task_grant, task_reassign, task_unclaim
from apps.notifications.events import EVENT_TYPES, event_put, event_schema, queue_group, user_group
from apps.notifications.models import OutboxMessage
from apps.workflows.services import instance_start
from tests.factories import purchase_order_data
from tests.process_steps import decide, open_task

pytestmark = pytest.mark.django_db


def events(since: int = 0) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(id__gt=since, topic__in=EVENT_TYPES).order_by("id"))


def last_id() -> int:
    return OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0


def order(people, key="PO-EV-1", amount=1200):
    return instance_start(
        kind="purchase_order", business_key=key, data=purchase_order_data(amount), actor=people["requester"]
    )


def test_every_event_written_matches_its_types_schema(people, queues):
    po = order(people, amount=18_500)
    lead_task = open_task(po)
    task_claim(task=lead_task, actor=people["lead"])
    task_unclaim(task=lead_task, actor=people["lead"])
    task_claim(task=lead_task, actor=people["lead"])
    task_delegate(task=lead_task, actor=people["lead"], to_user=people["lead2"])
    decide(lead_task, people["lead2"])
    finance = list(HumanTask.objects.filter(instance=po, step="finance_approval").order_by("id"))
    assert len(finance) == 2
    task_reassign(task=finance[0], actor=people["manager"], to_user=people["finance"], reason="She knows it")
    written = events()
    assert {e.topic for e in written} >= {
        "instance.transitioned",
        "task.created",
        "task.claimed",
        "task.released",
        "task.delegated",
        "task.completed",
        "task.reassigned",
    }
    for event in written:
        jsonschema.validate(event.payload, event_schema(EVENT_TYPES[event.topic]))


def test_a_claim_reaches_the_queue_and_the_new_holder(people, queues):
    task = open_task(order(people))
    before = last_id()
    task_claim(task=task, actor=people["lead"])
    [claimed] = events(before)
    assert claimed.topic == "task.claimed"
    assert claimed.payload["notify_groups"] == sorted(
        [queue_group(queues["team-leads"].pk), user_group(people["lead"].pk)]
    )
    assert claimed.payload["assignee"] == "lead"
    assert claimed.payload["state"] == "claimed"
    assert claimed.payload["business_key"] == "PO-EV-1"


def test_a_reassignment_away_tells_the_person_who_lost_it(people, queues):
    task = open_task(order(people))
    task_claim(task=task, actor=people["lead"])
    before = last_id()
    task_reassign(task=task, actor=people["manager"], to_user=people["lead2"], reason="Holiday")
    [moved] = events(before)
    assert user_group(people["lead"].pk) in moved.payload["notify_groups"]
    assert user_group(people["lead2"].pk) in moved.payload["notify_groups"]
    assert moved.payload["from_assignee"] == "lead" and moved.payload["to_assignee"] == "lead2"


def test_a_confidential_tasks_events_reach_its_grantees_only(people, queues):
    po = order(people, amount=3400)
    decide(open_task(po), people["lead"], "request_changes", comment="Split the order")
    revise = open_task(po, "revise_order")
    assert revise.is_confidential
    before = last_id()
    task_grant(task=revise, user=people["cfo"], actor=None)
    [granted] = events(before)
    groups = granted.payload["notify_groups"]
    assert groups == sorted([user_group(people["requester"].pk), user_group(people["cfo"].pk)])
    assert not any(g.startswith("queue-") for g in groups)


def test_instance_changes_reach_whoever_requested_and_started_it(people, queues):
    before = last_id()
    po = order(people)
    transitioned = [e for e in events(before) if e.topic == "instance.transitioned"]
    assert [e.payload["to_state"] for e in transitioned] == ["team_lead_review"]
    assert transitioned[0].payload["notify_groups"] == [user_group(people["requester"].pk)]
    assert po.requester == people["requester"]


def test_an_event_outside_the_catalogue_is_refused(people):
    with transaction.atomic(), pytest.raises(ValueError, match="not in the event catalogue"):
        event_put(event="task.teleported", instance=None, data={}, groups=[])
