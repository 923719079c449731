"""Automated steps in one process (jobs run eagerly after commit): step runs and their
idempotency, retries of transient failures, dead letters and what operators do with them.

The external systems are a real HTTP server on loopback; the real-worker versions of these
stories are in test_real_worker.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.automation.models import StepRun
from apps.automation.services import step_run_attempt, step_runs_recover_stalled
from apps.core.errors import InvalidDecision, InvalidProcessData
from apps.notifications.models import OutboxMessage
from tests.db_state import audit_actions, writes_nothing
from tests.external_systems import Reply
from tests.factories import run_account_activation, start_account_activation
from tests.process_steps import decide, open_task, open_tasks, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CREDIT = "/credit-checks"
EMPLOYMENT = "/employment-verifications"


def run_of(application, step):
    return StepRun.objects.filter(instance=application, step=step).latest("id")


def test_the_transition_writes_a_step_run_and_an_outbox_row_per_step_and_sends_nothing(
    people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        application = start_account_activation(people["integration"], business_key="ACC-1")

    runs = list(StepRun.objects.filter(instance=application).order_by("step"))
    assert [(r.step, r.state, r.attempts) for r in runs] == [
        ("credit_check", "pending", 0),
        ("employment_verification", "pending", 0),
    ]
    assert len({r.idempotency_key for r in runs}) == 2
    rows = list(OutboxMessage.objects.filter(instance=application).order_by("id"))
    assert [row.topic for row in rows] == ["instance.transitioned", "automation.step", "automation.step"]
    assert [row.payload.get("step_run_id") for row in rows[1:]] == [r.pk for r in runs]
    assert all(row.dispatched_at is None for row in rows)


def test_steps_run_over_http_and_move_the_instance(people, django_capture_on_commit_callbacks, http_systems):
    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    assert application.state == "active"
    assert application.data["credit_check"]["bureau_reference"] == "BUREAU-AB-1234"
    [credit] = http_systems.requests_to(CREDIT)
    assert credit.idempotency_key == run_of(application, "credit_check").idempotency_key
    assert credit.body == {"national_id": "AB-1234", "name": "Ada Lovelace", "limit": 5000}
    assert {r.state for r in StepRun.objects.filter(instance=application)} == {"succeeded"}
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_transient_failures_are_retried_with_the_same_key_and_then_succeed(
    people, django_capture_on_commit_callbacks, http_systems
):
    http_systems.script(CREDIT, Reply(503), Reply(200, delay=2.0), Reply(429))  # 2s is a hang: timeout 0.5s

    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    assert application.state == "active"
    credit = run_of(application, "credit_check")
    assert (credit.state, credit.attempts) == ("succeeded", 4)
    attempts = http_systems.requests_to(CREDIT)
    assert len(attempts) == 4
    assert {a.idempotency_key for a in attempts} == {credit.idempotency_key}
    retries = AuditEvent.objects.filter(instance=application, action="automation.step_retry_scheduled")
    assert [(e.data["step"], e.data["attempt"]) for e in retries.order_by("seq")] == [
        ("credit_check", 1),
        ("credit_check", 2),
        ("credit_check", 3),
    ]
    assert "HTTP 503" in retries.order_by("seq").first().data["error"]
    assert audit_actions(application).count("automation.step_succeeded") == 2


def test_a_permanent_failure_is_a_dead_letter_with_an_operations_task(
    people, django_capture_on_commit_callbacks, http_systems
):
    http_systems.script(EMPLOYMENT, Reply(404, {"detail": "no such employer"}))

    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    assert application.state == "needs_attention"
    run = run_of(application, "employment_verification")
    assert (run.state, run.attempts) == ("failed", 1)  # no retry for a 4xx
    assert len(http_systems.requests_to(EMPLOYMENT)) == 1
    task = open_task(application)
    assert task.queue.slug == "operations"
    assert task.step == "resolve_failed_check"
    assert (
        "employment_verification" in task.title
        and "after 1 attempts" in task.title
        and "HTTP 404" in task.title
    )
    failure = application.data["automation_failure"]
    assert failure["step_run_id"] == run.pk and failure["attempts"] == 1
    assert audit_actions(application)[-3:] == [
        "automation.step_failed",
        "instance.transitioned",
        "task.created",
    ]


def test_retries_that_run_out_are_a_dead_letter(
    people, django_capture_on_commit_callbacks, http_systems, settings
):
    settings.AUTOMATION_MAX_ATTEMPTS = 3
    http_systems.always(CREDIT, Reply(500))

    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    run = run_of(application, "credit_check")
    assert (run.state, run.attempts) == ("failed", 3)
    assert "HTTP 500" in run.last_error
    assert application.state == "needs_attention"
    assert len(http_systems.requests_to(CREDIT)) == 3


def failed_application(people, capture, http_systems, path=EMPLOYMENT):
    http_systems.script(path, Reply(422, {"detail": "unprocessable"}))
    application = run_account_activation(people["integration"], capture)
    assert application.state == "needs_attention"
    return application


def test_operator_retries_and_the_step_runs_again(
    people, make_user, django_capture_on_commit_callbacks, http_systems
):
    operator = make_user("Operations", username="ops")
    application = failed_application(people, django_capture_on_commit_callbacks, http_systems)

    with django_capture_on_commit_callbacks(execute=True):
        decide(open_task(application), operator, "retry")

    application.refresh_from_db()
    assert application.state == "active"
    assert "automation_failure" not in application.data
    # The credit check had passed before: only the failed step is asked again.
    assert len(http_systems.requests_to(CREDIT)) == 1
    assert len(http_systems.requests_to(EMPLOYMENT)) == 2
    runs = StepRun.objects.filter(instance=application, step="employment_verification").order_by("id")
    assert [r.state for r in runs] == ["failed", "succeeded"]
    assert runs[0].idempotency_key != runs[1].idempotency_key


def test_operator_skips_with_a_manual_result(
    people, make_user, django_capture_on_commit_callbacks, http_systems
):
    operator = make_user("Operations", username="ops")
    application = failed_application(people, django_capture_on_commit_callbacks, http_systems)

    with django_capture_on_commit_callbacks(execute=True):
        decide(
            open_task(application),
            operator,
            "skip",
            data={"result": {"verified": True, "note": "confirmed by phone"}},
            comment="Verifier down; HR confirmed by phone",
        )

    application.refresh_from_db()
    assert application.state == "active"
    assert application.data["employment_verification"] == {
        "verified": True,
        "note": "confirmed by phone",
        "manual": True,
    }
    assert len(http_systems.requests_to(EMPLOYMENT)) == 1


def test_a_manual_result_that_does_not_fit_the_step_is_refused_and_writes_nothing(
    people, make_user, django_capture_on_commit_callbacks, http_systems
):
    operator = make_user("Operations", username="ops")
    application = failed_application(people, django_capture_on_commit_callbacks, http_systems)
    task = open_task(application)
    decide_args = {"task": task, "actor": operator, "outcome": "skip", "comment": "by hand"}
    from apps.humantasks.services import task_complete

    with writes_nothing(application, task), pytest.raises(InvalidProcessData, match="manual result"):
        task_complete(**decide_args, data={"result": {"verified": "yes"}})
    with writes_nothing(application, task), pytest.raises(InvalidDecision):
        task_complete(**decide_args, data={})
    with writes_nothing(application, task), pytest.raises(InvalidDecision, match="comment"):
        task_complete(task=task, actor=operator, outcome="cancel")


def test_operator_cancels(people, make_user, django_capture_on_commit_callbacks, http_systems):
    operator = make_user("Operations", username="ops")
    application = failed_application(people, django_capture_on_commit_callbacks, http_systems)

    decide(open_task(application), operator, "cancel", comment="Customer withdrew")

    assert state_of(application) == "cancelled"
    assert open_tasks(application) == []


def test_a_redelivered_or_stale_job_changes_nothing(people, django_capture_on_commit_callbacks, http_systems):
    http_systems.script(CREDIT, Reply(503))
    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)
    run = run_of(application, "credit_check")
    assert (run.state, run.attempts) == ("succeeded", 2)

    for attempt in (1, 2, 3):  # the first try, the retry that succeeded, and one never scheduled
        with writes_nothing(application, run):
            step_run_attempt(step_run_id=run.pk, attempt=attempt)
    assert len(http_systems.requests_to(CREDIT)) == 2
    assert step_run_attempt(step_run_id=10**9, attempt=1) is None


def test_a_late_result_for_a_cancelled_instance_is_dropped(
    people, django_capture_on_commit_callbacks, http_systems
):
    from apps.workflows.services import instance_transition

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        application = start_account_activation(people["integration"], business_key="ACC-1")
    instance_transition(instance=application, transition="cancel", actor=people["integration"])
    with writes_nothing(application):
        for callback in callbacks:
            callback()

    assert http_systems.received == []
    assert {r.state for r in StepRun.objects.filter(instance=application)} == {"skipped"}


def test_runs_whose_job_was_lost_are_enqueued_again(people, django_capture_on_commit_callbacks, http_systems):
    with django_capture_on_commit_callbacks(execute=False):
        application = start_account_activation(people["integration"], business_key="ACC-1")
    # As if the broker lost both jobs a while ago: the outbox rows went, nothing came back.
    OutboxMessage.objects.filter(instance=application).update(dispatched_at=timezone.now())
    StepRun.objects.filter(instance=application).update(updated_at=timezone.now() - timedelta(minutes=20))

    assert step_runs_recover_stalled(older_than=timedelta(minutes=30)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert step_runs_recover_stalled(older_than=timedelta(minutes=15)) == 2

    assert state_of(application) == "active"
    assert audit_actions(application).count("automation.step_requeued") == 2
    assert step_runs_recover_stalled(older_than=timedelta(minutes=15)) == 0
