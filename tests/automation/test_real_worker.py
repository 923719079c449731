"""Automated steps on real Celery workers (subprocesses) with a Redis of the test's own and
the external systems as a loopback HTTP server that answers, fails, is slow or hangs."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.automation.models import StepRun
from apps.workflows.models import WorkflowInstance
from tests.celery_workers import wait_for
from tests.external_systems import Reply
from tests.factories import start_account_activation
from tests.process_steps import open_task

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CREDIT = "/credit-checks"
EMPLOYMENT = "/employment-verifications"


@pytest.fixture
def http(external_system):
    """Worker settings that send both checks to the loopback system."""
    return {
        "AUTOMATION_CREDIT_BUREAU": "apps.automation.adapters.HttpCreditBureau",
        "AUTOMATION_EMPLOYMENT_VERIFIER": "apps.automation.adapters.HttpEmploymentVerifier",
        "AUTOMATION_CREDIT_BUREAU_URL": external_system.url,
        "AUTOMATION_EMPLOYMENT_VERIFIER_URL": external_system.url,
    }


def state_becomes(instance, state, timeout=30):
    def reached():
        return WorkflowInstance.objects.filter(pk=instance.pk, state=state).exists()

    wait_for(reached, timeout=timeout, what=f"instance {instance.pk} to be {state}")
    instance.refresh_from_db()
    return instance


def step_run(instance, step):
    return StepRun.objects.get(instance=instance, step=step)


def test_a_step_runs_on_a_worker_and_moves_the_instance(people, workers, http, external_system):
    workers.start(**http)

    application = state_becomes(start_account_activation(people["integration"]), "active")

    assert application.data["credit_check"]["bureau_reference"] == "BUREAU-AB-1234"
    assert {r.state for r in StepRun.objects.filter(instance=application)} == {"succeeded"}
    assert len(external_system.requests_to(CREDIT)) == len(external_system.requests_to(EMPLOYMENT)) == 1


def test_transient_failures_are_retried_with_growing_backoff_and_then_succeed(
    people, workers, http, external_system
):
    # A 503, a hang past the 2 s timeout, a 502; the fourth and last allowed attempt succeeds.
    external_system.script(CREDIT, Reply(503), Reply(200, delay=4), Reply(502))
    workers.start(**http)

    application = state_becomes(start_account_activation(people["integration"]), "active")

    run = step_run(application, "credit_check")
    assert (run.state, run.attempts) == ("succeeded", 4)
    requests = external_system.requests_to(CREDIT)
    assert len(requests) == 4
    assert {r.idempotency_key for r in requests} == {run.idempotency_key}
    retries = AuditEvent.objects.filter(instance=application, action="automation.step_retry_scheduled")
    waits = [e.data["retry_in_seconds"] for e in retries.order_by("seq")]
    errors = [e.data["error"] for e in retries.order_by("seq")]
    assert "HTTP 503" in errors[0] and "did not answer in time" in errors[1] and "HTTP 502" in errors[2]
    # Exponential backoff with jitter (base 0.4 s): each wait at least half its ceiling, growing.
    assert 0.2 <= waits[0] <= 0.4 <= waits[1] <= 0.8 <= waits[2] <= 1.6
    arrivals = [r.at for r in requests]
    assert arrivals[1] - arrivals[0] >= waits[0]
    assert arrivals[2] - arrivals[1] >= 2.0 + waits[1] - 0.05  # the timeout, then the backoff
    assert arrivals[3] - arrivals[2] >= waits[2]


def test_a_permanent_failure_lands_in_the_dead_letters_with_an_operations_task(
    people, workers, http, external_system
):
    external_system.script(EMPLOYMENT, Reply(403, {"detail": "contract expired"}))
    workers.start(**http)

    application = state_becomes(start_account_activation(people["integration"]), "needs_attention")

    run = step_run(application, "employment_verification")
    assert (run.state, run.attempts) == ("failed", 1)
    task = open_task(application)
    assert task.queue.slug == "operations" and "HTTP 403" in task.title
    assert len(external_system.requests_to(EMPLOYMENT)) == 1


def test_a_worker_killed_in_the_middle_of_a_step_completes_it_exactly_once_after_restart(
    people, workers, http, external_system
):
    external_system.script(CREDIT, Reply(200, delay=8))  # slow: the worker is killed while it waits
    first = workers.start("w1", concurrency=1, AUTOMATION_HTTP_TIMEOUT_SECONDS=20, **http)

    application = start_account_activation(people["integration"])
    wait_for(lambda: external_system.requests_to(CREDIT), timeout=20, what="the credit check to be under way")
    assert step_run(application, "credit_check").state == "running"
    first.kill()

    # The job was never acknowledged: Redis hands it out again once its visibility timeout passes.
    workers.start("w2", concurrency=1, AUTOMATION_HTTP_TIMEOUT_SECONDS=20, **http)
    application = state_becomes(application, "active", timeout=60)

    run = step_run(application, "credit_check")
    assert (run.state, run.attempts) == ("succeeded", 1)
    calls = external_system.requests_to(CREDIT)
    assert len(calls) == 2  # asked twice, with one key, so the bureau can tell it is the same check
    assert {c.idempotency_key for c in calls} == {run.idempotency_key}
    applied = AuditEvent.objects.filter(instance=application, action="automation.step_succeeded")
    assert sorted(e.data["step"] for e in applied) == ["credit_check", "employment_verification"]
    transitions = AuditEvent.objects.filter(instance=application, action="instance.transitioned")
    assert [e.data["transition"] for e in transitions.order_by("seq")].count("record_credit_check") == 1


def test_the_circuit_breaker_shared_by_two_workers_opens_and_closes(
    people, workers, http, external_system, settings, own_redis
):
    from apps.automation.breakers import breaker_state, breakers_forget

    breaker = {
        "AUTOMATION_BREAKER_FAILURES": 2,
        "AUTOMATION_BREAKER_RESET_SECONDS": 2,
        "AUTOMATION_MAX_ATTEMPTS": 8,
    }
    external_system.script(CREDIT, Reply(503), Reply(503))
    workers.start("w1", concurrency=1, **breaker, **http)
    workers.start("w2", beat=False, concurrency=1, **breaker, **http)
    settings.AUTOMATION_BREAKER_REDIS_URL = own_redis.url
    breakers_forget()

    application = start_account_activation(people["integration"])
    wait_for(lambda: breaker_state("credit_bureau") == "open", timeout=20, what="the breaker to open")
    application = state_becomes(application, "active", timeout=30)

    assert breaker_state("credit_bureau") == "closed"
    run = step_run(application, "credit_check")
    retries = AuditEvent.objects.filter(instance=application, action="automation.step_retry_scheduled")
    errors = [e.data["error"] for e in retries.order_by("seq") if e.data["step"] == "credit_check"]
    assert errors[:2] == ["TransientAdapterError: credit_bureau answered HTTP 503"] * 2
    short_circuited = [e for e in errors[2:] if "circuit breaker for credit_bureau is open" in e]
    assert short_circuited and len(short_circuited) == len(errors) - 2
    # While it was open nobody called the bureau: two failures, then the trial call that closed it.
    assert len(external_system.requests_to(CREDIT)) == 3
    assert run.attempts == len(errors) + 1
    breakers_forget()
