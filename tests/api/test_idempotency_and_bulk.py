"""Retried POSTs do nothing twice; bulk actions answer each item on its own."""

from __future__ import annotations

import pytest

from apps.api.models import IdempotencyRecord
from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.workflows.models import WorkflowInstance
from tests.api.conftest import problem, start
from tests.factories import purchase_order_data, start_purchase_order
from tests.racing import run_together

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_a_retried_start_returns_the_first_answer_and_starts_once(people, api):
    client = api(people["requester"])
    first = start(
        client, "purchase_order", "PO-RETRY", purchase_order_data(), **{"Idempotency-Key": "start-1"}
    )
    again = start(
        client, "purchase_order", "PO-RETRY", purchase_order_data(), **{"Idempotency-Key": "start-1"}
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Location"] == first["Location"] and again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true"
    assert WorkflowInstance.objects.count() == 1
    assert AuditEvent.objects.filter(action="instance.started").count() == 1
    # Without the key, the same request is a new attempt and meets the duplicate business key.
    problem(start(client, "purchase_order", "PO-RETRY", purchase_order_data()), 409, "duplicate-business-key")


def test_a_retried_decision_is_not_decided_twice_and_errors_replay_too(people, api):
    start(api(people["requester"]), "purchase_order", "PO-RETRY-2", purchase_order_data())
    task = HumanTask.objects.get()
    lead = api(people["lead"])
    claim = lead.post(f"/api/v1/tasks/{task.pk}/claim/", headers={"Idempotency-Key": "claim-1"})
    claim_again = lead.post(f"/api/v1/tasks/{task.pk}/claim/", headers={"Idempotency-Key": "claim-1"})
    assert claim.status_code == claim_again.status_code == 200
    assert AuditEvent.objects.filter(action="task.claimed").count() == 1

    body = {"outcome": "approve", "comment": "fine"}
    done = lead.post(
        f"/api/v1/tasks/{task.pk}/complete/", body, format="json", headers={"Idempotency-Key": "done-1"}
    )
    done_again = lead.post(
        f"/api/v1/tasks/{task.pk}/complete/", body, format="json", headers={"Idempotency-Key": "done-1"}
    )
    assert done.status_code == done_again.status_code == 200 and done_again.json() == done.json()
    assert AuditEvent.objects.filter(action="task.completed").count() == 1

    # A failed attempt's answer is kept as well, so its retry does not suddenly succeed differently.
    refused = lead.post(f"/api/v1/tasks/{task.pk}/claim/", headers={"Idempotency-Key": "claim-2"})
    problem(refused, 409, "task-closed")
    replay = lead.post(f"/api/v1/tasks/{task.pk}/claim/", headers={"Idempotency-Key": "claim-2"})
    problem(replay, 409, "task-closed")
    assert replay["Idempotent-Replayed"] == "true"


def test_keys_belong_to_their_user(people, api):
    start(
        api(people["requester"]),
        "purchase_order",
        "PO-K-1",
        purchase_order_data(),
        **{"Idempotency-Key": "same"},
    )
    other = start(
        api(people["requester2"]),
        "purchase_order",
        "PO-K-2",
        purchase_order_data(),
        **{"Idempotency-Key": "same"},
    )
    assert other.status_code == 201 and other.json()["business_key"] == "PO-K-2"
    assert IdempotencyRecord.objects.filter(key="same").count() == 2


def test_an_invalid_key_is_refused(people, api):
    response = start(
        api(people["requester"]),
        "purchase_order",
        "PO-K-3",
        purchase_order_data(),
        **{"Idempotency-Key": "x" * 300},
    )
    problem(response, 400, "invalid-idempotency-key")
    assert not WorkflowInstance.objects.exists()


def test_bulk_complete_answers_each_item(people, api):
    requester = api(people["requester"])
    for number in range(3):
        start(requester, "purchase_order", f"PO-BULK-{number}", purchase_order_data(100 + number))
    tasks = list(HumanTask.objects.order_by("id"))
    lead = api(people["lead"])
    items = [
        {"task": tasks[0].pk, "outcome": "approve"},
        {"task": tasks[1].pk, "outcome": "maybe"},
        {"task": tasks[2].pk, "outcome": "reject", "comment": "Too pricey", "version": tasks[2].version},
        {"task": 10**12, "outcome": "approve"},
        {"task": tasks[0].pk, "outcome": "approve", "colour": "red"},
        "not an object",
    ]
    response = lead.post("/api/v1/tasks/bulk/", {"action": "complete", "items": items}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [r["status"] for r in body["results"]] == [200, 400, 200, 404, 400, 400]
    assert (body["succeeded"], body["failed"]) == (2, 4)
    assert body["results"][1]["problem"]["code"] == "invalid-decision"
    assert body["results"][0]["result"]["state"] == "completed"
    states = dict(WorkflowInstance.objects.values_list("business_key", "state"))
    assert states == {"PO-BULK-0": "approved", "PO-BULK-1": "team_lead_review", "PO-BULK-2": "rejected"}


def test_bulk_reassign_and_its_limits(people, api, settings):
    requester = api(people["requester"])
    for number in range(2):
        start(requester, "purchase_order", f"PO-BR-{number}", purchase_order_data())
    ids = list(HumanTask.objects.order_by("id").values_list("id", flat=True))
    manager = api(people["manager"])
    items = [
        {"task": ids[0], "to_user": "lead", "reason": "r"},
        {"task": ids[1], "to_queue": "nowhere", "reason": "r"},
    ]
    body = manager.post("/api/v1/tasks/bulk/", {"action": "reassign", "items": items}, format="json").json()
    assert [r["status"] for r in body["results"]] == [200, 400]
    assert body["results"][0]["result"]["assignee"] == "lead"

    problem(
        manager.post("/api/v1/tasks/bulk/", {"action": "explode", "items": items}, format="json"),
        400,
        "validation-error",
    )
    problem(
        manager.post("/api/v1/tasks/bulk/", {"action": "complete", "items": []}, format="json"),
        400,
        "validation-error",
    )
    too_many = [{"task": ids[0], "outcome": "approve"}] * (settings.API_BULK_MAX_ITEMS + 1)
    problem(
        manager.post("/api/v1/tasks/bulk/", {"action": "complete", "items": too_many}, format="json"),
        400,
        "validation-error",
    )


def test_expired_answers_are_forgotten_and_purged(people, api, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    client = api(people["requester"])
    start(client, "purchase_order", "PO-TTL-1", purchase_order_data(), **{"Idempotency-Key": "ttl"})
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS + 1)
    )
    # Past its TTL the key starts afresh: a different request with it is served, not refused.
    fresh = start(client, "purchase_order", "PO-TTL-2", purchase_order_data(), **{"Idempotency-Key": "ttl"})
    assert fresh.status_code == 201 and fresh.json()["business_key"] == "PO-TTL-2"
    start(client, "purchase_order", "PO-TTL-3", purchase_order_data(), **{"Idempotency-Key": "other"})
    IdempotencyRecord.objects.filter(key="other").update(created_at=timezone.now() - timedelta(days=30))
    call_command("purge_idempotency_records", stdout=__import__("io").StringIO())
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["ttl"]


@pytest.mark.django_db(transaction=True)
def test_overlapping_idempotent_bulk_requests_in_opposite_orders_do_not_deadlock(people, api, make_user):
    """With an Idempotency-Key a bulk request is one transaction that keeps every item's locks
    to the end; two of them naming the same tasks in opposite orders must both finish."""
    for number in range(15):
        start_purchase_order(people["requester"], business_key=f"PO-LOCKS-{number}")
    ids = list(HumanTask.objects.order_by("id").values_list("id", flat=True))
    first, second = api(people["manager"]), api(make_user("Managers", username="manager2"))
    forward = [{"task": pk, "to_user": "lead", "reason": "Lead takes these"} for pk in ids]
    backward = [{"task": pk, "to_user": "lead2", "reason": "Lead 2 takes these"} for pk in reversed(ids)]

    def bulk(client, items, key):
        return client.post(
            "/api/v1/tasks/bulk/",
            {"action": "reassign", "items": items},
            format="json",
            headers={"Idempotency-Key": key},
        )

    outcomes = run_together(lambda: bulk(first, forward, "bulk-a"), lambda: bulk(second, backward, "bulk-b"))

    assert all(outcome.succeeded for outcome in outcomes), [repr(o.error)[:300] for o in outcomes]
    for outcome, items in zip(outcomes, (forward, backward), strict=True):
        body = outcome.value.json()
        assert outcome.value.status_code == 200, body
        # Answered in the order asked, whatever order the work was done in.
        assert [r["task"] for r in body["results"]] == [item["task"] for item in items]
        assert body["succeeded"] == len(ids)
    assert AuditEvent.objects.filter(action="task.reassigned").count() == 2 * len(ids)
