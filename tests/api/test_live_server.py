"""Through a real HTTP server: concurrent claims and concurrent duplicate requests."""

from __future__ import annotations

import threading

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.workflows.models import WorkflowInstance
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def race(*calls):
    """Send the requests at the same moment, one thread each; return the responses in order."""
    start_line = threading.Barrier(len(calls))
    responses: list = [None] * len(calls)

    def run(index, call):
        start_line.wait(timeout=10)
        responses[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}", **extra}


def test_two_leads_claim_the_same_task_at_once_one_wins(live_server, people, key_for):
    started = requests.post(
        f"{live_server.url}/api/v1/instances/",
        json={"kind": "purchase_order", "business_key": "PO-LIVE-1", "data": purchase_order_data(100)},
        headers=headers(key_for(people["requester"])),
        timeout=10,
    )
    assert started.status_code == 201, started.text
    task = HumanTask.objects.get(instance_id=started.json()["id"])
    url = f"{live_server.url}/api/v1/tasks/{task.pk}/claim/"
    lead_key, lead2_key = key_for(people["lead"]), key_for(people["lead2"])

    first, second = race(
        lambda: requests.post(url, headers=headers(lead_key), timeout=10),
        lambda: requests.post(url, headers=headers(lead2_key), timeout=10),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.headers["Content-Type"] == "application/problem+json"
    assert loser.json()["code"] == "task-conflict"
    winner = first if first.status_code == 200 else second
    task.refresh_from_db()
    assert task.assignee.username == winner.json()["assignee"]
    assert AuditEvent.objects.filter(task=task, action="task.claimed").count() == 1


def test_concurrent_duplicates_with_one_idempotency_key_start_one_process(live_server, people, key_for):
    url = f"{live_server.url}/api/v1/instances/"
    body = {"kind": "purchase_order", "business_key": "PO-LIVE-2", "data": purchase_order_data(100)}
    sent = headers(key_for(people["requester"]), **{"Idempotency-Key": "live-dup-1"})
    answers = race(*[lambda: requests.post(url, json=body, headers=sent, timeout=10)] * 3)
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 2
    assert WorkflowInstance.objects.filter(business_key="PO-LIVE-2").count() == 1
    assert AuditEvent.objects.filter(action="instance.started").count() == 1
