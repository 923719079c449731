"""Faults under a steady load of approvals, each on services of the test's own: PostgreSQL
restarted, Redis stopped for 30 s, a web process SIGKILLed mid-request, a worker SIGKILLed
mid-step. Each prints its figures (README: Reliability)."""

from __future__ import annotations

import time
from functools import partial

import httpx
import pytest

from tests.celery_workers import wait_for
from tests.faults.harness import Load, api_answers, approvals_client, ledger, recovery_after, report, stage  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CLIENTS = 4
REDIS_OUTAGE_SECONDS = 30


def _load(stage, urls):  # noqa: F811
    client = partial(approvals_client, url_of=lambda n: urls[n % len(urls)])
    return Load(stage, [lambda s, n, st: client(s, n, st)] * CLIENTS).start()


def _assert_whole(figures):
    assert figures["rows lost"] == 0, figures
    assert figures["duplicate transitions"] == 0, figures
    assert figures["half-written"] == 0, figures


def test_postgres_restarted_under_load(stage):  # noqa: F811
    [web] = stage.web.start(1)
    load = _load(stage, [web.url])
    time.sleep(4)
    fault_at = time.monotonic()
    stage.postgres.restart()
    recovery = recovery_after(load.stats, fault_at, api_answers(web.url, stage.keys["lead"]))
    time.sleep(4)
    stats = load.stop()
    figures = ledger(stage, stats)
    report("postgres restart", stats, figures, recovery)
    _assert_whole(figures)
    assert figures["acknowledged approvals"] > 0
    # Requests in flight at the restart are told to come back (503, Retry-After), not a 500.
    assert "HTTP 500" not in stats.errors, stats.errors


def test_redis_stopped_for_30_seconds_under_load(stage):  # noqa: F811
    [web] = stage.web.start(1)
    stage.workers.start("w1", concurrency=1)
    load = _load(stage, [web.url])
    time.sleep(3)
    stage.redis.stop()
    during = sum(load.stats.answers.values())
    time.sleep(REDIS_OUTAGE_SECONDS)
    answered_during_outage = sum(load.stats.answers.values()) - during
    fault_at = time.monotonic()
    stage.redis.start()
    waiting = "SELECT count(*) FROM notifications_outboxmessage WHERE dispatched_at IS NULL"
    time.sleep(2)
    stats = load.stop()
    recovery = recovery_after(stats, fault_at, lambda: stage.sql(waiting)[0][0] == 0, timeout=120)
    figures = ledger(stage, stats)
    figures["answered during the outage"] = answered_during_outage
    figures["outbox rows"] = stage.sql("SELECT count(*) FROM notifications_outboxmessage")[0][0]
    report(f"redis stopped {REDIS_OUTAGE_SECONDS}s", stats, figures, recovery)
    _assert_whole(figures)
    assert answered_during_outage > 0, "the API must keep answering while Redis is away"


def test_web_process_killed_mid_request(stage):  # noqa: F811
    web_a, web_b = stage.web.start(2)
    load = _load(stage, [web_a.url, web_b.url])
    time.sleep(4)
    fault_at = time.monotonic()
    web_a.kill()
    time.sleep(1)
    web_a.start()
    recovery = time.monotonic() - fault_at
    time.sleep(3)
    stats = load.stop()
    # One Idempotency-Key, sent again after the kill, gets one result: the same instance.
    headers = {"Authorization": f"Api-Key {stage.keys['requester']}", "Idempotency-Key": "after-kill"}
    body = {
        "kind": "purchase_order",
        "business_key": "AFTER-KILL",
        "data": {"amount": 100, "currency": "EUR", "supplier": "Acme", "description": "Retry"},
    }
    answers = [
        httpx.post(f"{url}/api/v1/instances/", json=body, headers=headers, timeout=10)
        for url in (web_a.url, web_b.url)
    ]
    assert [a.status_code for a in answers] == [201, 201] and answers[0].json()["id"] == answers[1].json()[
        "id"
    ]
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    figures = ledger(stage, stats)
    by_key = stage.sql(
        "SELECT business_key, count(*) FROM workflows_workflowinstance GROUP BY 1 HAVING count(*) > 1"
    )
    figures["business keys started twice"] = len(by_key)
    report("web process SIGKILL", stats, figures, recovery)
    _assert_whole(figures)
    assert not by_key


def test_worker_killed_mid_step(stage):  # noqa: F811
    [web] = stage.web.start(1)
    worker = stage.workers.start("w1", concurrency=2, AUTOMATION_SIMULATED_DELAY_SECONDS="1.5")
    erp = {"Authorization": f"Api-Key {stage.keys['erp']}"}
    ids = []
    for n in range(6):
        data = {
            "customer_name": "Ada", "customer_email": "ada@example.com", "national_id": f"KILL-{n}",
            "employer": "Engines", "requested_limit": 5000,
        }  # fmt: skip
        response = httpx.post(
            f"{web.url}/api/v1/instances/",
            json={"kind": "account_activation", "business_key": f"KILL-{n}", "data": data},
            headers=erp,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    running = "SELECT count(*) FROM automation_steprun WHERE state = 'running'"
    wait_for(lambda: stage.sql(running)[0][0] > 0, timeout=60, what="a step to be running")
    fault_at = time.monotonic()
    worker.kill()
    stage.workers.start("w2", concurrency=2, AUTOMATION_SIMULATED_DELAY_SECONDS="1.5")
    finished = (
        "SELECT count(*) FROM workflows_workflowinstance "
        "WHERE kind = 'account_activation' AND state <> 'checks_running'"
    )
    recovery = recovery_after(None, fault_at, lambda: stage.sql(finished)[0][0] == len(ids), timeout=180)
    applied = stage.sql(
        "SELECT instance_id, data->>'step', count(*) FROM audit_auditevent "
        "WHERE action = 'automation.step_succeeded' GROUP BY 1, 2"
    )
    twice = [row for row in applied if row[2] > 1]
    duplicates = stage.sql(
        "SELECT instance_id, data->>'transition', count(*) FROM audit_auditevent "
        "WHERE action = 'instance.transitioned' GROUP BY 1, 2 HAVING count(*) > 1"
    )
    print(
        f"\nFAULT worker SIGKILL mid-step: activations {len(ids)}; steps applied {len(applied)}; "
        f"applied twice {len(twice)}; duplicate transitions {len(duplicates)}; recovery {recovery:.1f}s"
    )
    assert len(applied) == 2 * len(ids) and not twice and not duplicates
