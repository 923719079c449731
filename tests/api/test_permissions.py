"""Who may read and act on what, across the standard roles, through the API."""

from __future__ import annotations

import pytest

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_grant
from tests.api.conftest import start
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# For a purchase order waiting for a team lead: may the role read the instance, read the
# task, claim the task, cancel the order, read the audit log?
MATRIX = {
    #              instance task claim cancel audit
    "requester": (200, 404, 404, 200, 403),
    "requester2": (404, 404, 404, 404, 403),
    "lead": (200, 200, 200, 403, 403),
    "finance": (404, 404, 404, 404, 403),
    "manager": (200, 200, 403, 200, 403),
    "auditor": (200, 200, 403, 403, 200),
    "integration": (404, 404, 404, 404, 403),
    "outsider": (404, 404, 404, 404, 403),
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_permission_matrix(people, api, who):
    order = start(api(people["requester"]), "purchase_order", "PO-MATRIX", purchase_order_data(100)).json()
    task = HumanTask.objects.get(instance_id=order["id"])
    client = api(people[who])
    instance_status, task_status, claim_status, cancel_status, audit_status = MATRIX[who]

    assert client.get(f"/api/v1/instances/{order['id']}/").status_code == instance_status
    assert client.get(f"/api/v1/tasks/{task.pk}/").status_code == task_status
    listed = [t["id"] for t in client.get("/api/v1/tasks/").json()["results"]]
    assert (task.pk in listed) == (task_status == 200)
    listed_instances = [i["id"] for i in client.get("/api/v1/instances/").json()["results"]]
    assert (order["id"] in listed_instances) == (instance_status == 200)
    assert client.get("/api/v1/audit-events/").status_code == audit_status
    assert client.get("/api/v1/audit-events/export/").status_code == audit_status
    assert client.post(f"/api/v1/tasks/{task.pk}/claim/").status_code == claim_status
    assert client.post(f"/api/v1/instances/{order['id']}/transitions/cancel/").status_code == cancel_status


def test_confidential_grant_opens_one_task_to_one_person(people, api):
    order = start(api(people["requester"]), "purchase_order", "PO-GRANT", purchase_order_data(100)).json()
    task = HumanTask.objects.get(instance_id=order["id"])
    finance = api(people["finance"])
    assert finance.get(f"/api/v1/tasks/{task.pk}/").status_code == 404
    task_grant(task=task, user=people["finance"], actor=None, can_work=False)
    assert finance.get(f"/api/v1/tasks/{task.pk}/").status_code == 200
    assert finance.get(f"/api/v1/instances/{order['id']}/").status_code == 200
    assert finance.post(f"/api/v1/tasks/{task.pk}/claim/").status_code == 403


def test_queues_list_only_the_callers_queues_with_counts(people, api):
    requester = api(people["requester"])
    for number in range(3):
        start(requester, "purchase_order", f"PO-Q-{number}", purchase_order_data(100))
    lead = api(people["lead"])
    first = lead.get("/api/v1/tasks/").json()["results"][0]
    lead.post(f"/api/v1/tasks/{first['id']}/claim/")
    HumanTask.objects.filter(pk=first["id"]).update(due_at="2000-01-01T00:00:00Z")

    queues = {q["slug"]: q for q in lead.get("/api/v1/queues/").json()["results"]}
    assert set(queues) == {"team-leads"}
    assert (
        queues["team-leads"]["open"],
        queues["team-leads"]["claimed"],
        queues["team-leads"]["overdue"],
    ) == (2, 1, 1)
    managed = {q["slug"] for q in api(people["manager"]).get("/api/v1/queues/").json()["results"]}
    assert {"team-leads", "finance", "cfo", "requesters"} <= managed
    assert api(people["outsider"]).get("/api/v1/queues/").json()["results"] == []


def test_reassign_and_delegate(people, api):
    order = start(api(people["requester"]), "purchase_order", "PO-MOVE", purchase_order_data(100)).json()
    task = HumanTask.objects.get(instance_id=order["id"])
    manager = api(people["manager"])
    moved = manager.post(
        f"/api/v1/tasks/{task.pk}/reassign/", {"to_user": "lead", "reason": "Lead is on it"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["assignee"] == "lead" and moved.json()["state"] == "claimed"

    lead = api(people["lead"])
    handed = lead.post(
        f"/api/v1/tasks/{task.pk}/delegate/", {"to_user": "lead2", "reason": "Holiday"}, format="json"
    )
    assert handed.status_code == 200, handed.json()
    assert handed.json()["assignee"] == "lead2"
    # Delegating to someone outside the task's role is refused with a field error.
    refused = api(people["lead2"]).post(
        f"/api/v1/tasks/{task.pk}/delegate/", {"to_user": "finance"}, format="json"
    )
    assert refused.status_code == 400 and "to_user" in refused.json()["errors"]
    unknown = manager.post(
        f"/api/v1/tasks/{task.pk}/reassign/", {"to_user": "nobody", "reason": "x"}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["errors"] == {"to_user": ["No such active user."]}
    both = manager.post(
        f"/api/v1/tasks/{task.pk}/reassign/",
        {"to_user": "lead", "to_queue": "cfo", "reason": "x"},
        format="json",
    )
    assert both.status_code == 400

    released = api(people["lead2"]).post(f"/api/v1/tasks/{task.pk}/unclaim/")
    assert released.status_code == 200 and released.json()["assignee"] is None
    to_queue = manager.post(
        f"/api/v1/tasks/{task.pk}/reassign/",
        {"to_queue": "finance", "reason": "Needs finance"},
        format="json",
    )
    assert to_queue.status_code == 200 and to_queue.json()["queue"] == "finance"
    assert api(people["finance"]).get(f"/api/v1/tasks/{task.pk}/").status_code == 200


def test_instance_history_hides_confidential_tasks_from_those_who_cannot_see_them(people, api):
    """The requester's revision is confidential: the team lead who sees the resubmitted order
    sees its process history, but not the revision task's events, whose comment is the
    requester's alone (as on the staff task page)."""
    requester, lead = api(people["requester"]), api(people["lead"])
    order = start(requester, "purchase_order", "PO-HIDDEN", purchase_order_data(100)).json()
    review = HumanTask.objects.get(instance_id=order["id"], step="team_lead_approval")
    sent_back = lead.post(
        f"/api/v1/tasks/{review.pk}/complete/",
        {"outcome": "request_changes", "comment": "Which drills?"},
        format="json",
    )
    assert sent_back.status_code == 200, sent_back.json()
    revision = HumanTask.objects.get(instance_id=order["id"], step="revise_order")
    assert revision.is_confidential
    resubmitted = requester.post(
        f"/api/v1/tasks/{revision.pk}/complete/",
        {"outcome": "resubmit", "data": {"amount": 90}, "comment": "Private note for my manager only"},
        format="json",
    )
    assert resubmitted.status_code == 200, resubmitted.json()
    assert lead.get(f"/api/v1/tasks/{revision.pk}/").status_code == 404

    for path in (f"/api/v1/instances/{order['id']}/history/", f"/api/v1/instances/{order['id']}/"):
        lead_reads = lead.get(path)
        assert lead_reads.status_code == 200
        events = lead_reads.json()["results" if path.endswith("history/") else "history"]
        assert {e["action"] for e in events} >= {"task.created", "task.completed"}
        assert revision.pk not in {e.get("task") for e in events}
        assert "Private note" not in lead_reads.content.decode()
        # The requester, whose task it was, still reads all of it.
        own = requester.get(path)
        assert "Private note" in own.content.decode()
