"""A request cut off mid-transaction by a PostgreSQL restart: the client gets 503 with
Retry-After and problem+json, the database keeps nothing of the request, and the same request
sent again (same Idempotency-Key) is carried out once. On a PostgreSQL cluster of the test's own
(tests/faults/harness.py), never the shared one."""

from __future__ import annotations

import threading

import httpx
import psycopg
import pytest

from tests.celery_workers import wait_for
from tests.faults.harness import stage  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ORDER = {
    "kind": "purchase_order",
    "business_key": "MID-RESTART",
    "data": {"amount": 100, "currency": "EUR", "supplier": "Acme", "description": "Cut off"},
}


def _rows_of_the_order(stage) -> dict[str, int]:  # noqa: F811
    def count(query: str, *params: str) -> int:
        return stage.sql(query, *params)[0][0]

    return {
        "instances": count(
            "SELECT count(*) FROM workflows_workflowinstance WHERE business_key = %s", "MID-RESTART"
        ),
        "tasks": count(
            "SELECT count(*) FROM humantasks_humantask t JOIN workflows_workflowinstance i "
            "ON i.id = t.instance_id WHERE i.business_key = %s",
            "MID-RESTART",
        ),
        "audit events": count(
            "SELECT count(*) FROM audit_auditevent e JOIN workflows_workflowinstance i "
            "ON i.id = e.instance_id WHERE i.business_key = %s",
            "MID-RESTART",
        ),
        "idempotency records": count("SELECT count(*) FROM api_idempotencyrecord WHERE key = 'mid-restart'"),
    }


def test_a_request_cut_off_by_a_restart_answers_503_and_leaves_nothing(stage):  # noqa: F811
    [web] = stage.web.start(1, SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS="3")
    headers = {"Authorization": f"Api-Key {stage.keys['requester']}", "Idempotency-Key": "mid-restart"}
    url = stage.postgres.url.replace("postgres://", "postgresql://")

    # Hold back the order's task row, so the request waits inside its transaction after it
    # has written the instance and its first audit event.
    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE humantasks_humantask IN SHARE MODE")
    answers: list[httpx.Response | Exception] = []

    def start_order() -> None:
        try:
            answers.append(
                httpx.post(f"{web.url}/api/v1/instances/", json=ORDER, headers=headers, timeout=60)
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    thread = threading.Thread(target=start_order)
    thread.start()
    waiting_with_writes = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    )
    wait_for(
        lambda: stage.sql(waiting_with_writes)[0][0] == 1, timeout=60, what="the request to wait mid-write"
    )

    stage.postgres.restart()
    thread.join(timeout=60)
    blocker.close()

    [answer] = answers
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 503, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == "3"
    assert answer.json()["code"] == "service-unavailable"
    assert _rows_of_the_order(stage) == {
        "instances": 0,
        "tasks": 0,
        "audit events": 0,
        "idempotency records": 0,
    }

    # The client does what the answer says: the same request again, once, whole.
    again = httpx.post(f"{web.url}/api/v1/instances/", json=ORDER, headers=headers, timeout=60)
    assert again.status_code == 201, again.text
    replayed = httpx.post(f"{web.url}/api/v1/instances/", json=ORDER, headers=headers, timeout=60)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json()["id"] == again.json()["id"]
    rows = _rows_of_the_order(stage)
    assert rows["instances"] == 1 and rows["tasks"] == 1 and rows["idempotency records"] == 1
    assert rows["audit events"] >= 2  # instance.started, task.created
    print(
        "\nFAULT postgres restart mid-transaction: answer 503 (Retry-After 3); "
        f"rows kept before the retry 0; after the retry {rows}"
    )
