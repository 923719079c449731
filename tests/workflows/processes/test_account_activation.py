"""Customer account activation: automated checks after commit, risk review, idempotent steps."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.automation.services import automated_step_run
from apps.core.errors import InvalidDecision, NotFound
from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_complete
from apps.workflows.services import instance_transition
from tests.db_state import audit_actions, writes_nothing
from tests.factories import run_account_activation, start_account_activation
from tests.process_steps import decide, open_task, open_tasks, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_checks_run_only_after_commit(people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        application = start_account_activation(people["integration"], business_key="ACC-1")
        # Inside the starting transaction nothing external has been called yet.
        assert state_of(application) == "checks_running"
        assert "automation.step_succeeded" not in audit_actions(application)

    assert state_of(application) == "active"


def test_clean_applicant_is_activated_without_a_person(people, django_capture_on_commit_callbacks):
    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    assert application.state == "active"
    assert application.finished_at is not None
    assert application.data["credit_check"]["passed"] is True
    assert application.data["credit_check"]["score"] <= application.RISK_SCORE_LIMIT
    assert application.data["employment_verification"] == {
        "verified": True,
        "employer": "Analytical Engines Ltd",
    }
    assert open_tasks(application) == []
    assert audit_actions(application) == [
        "instance.started",
        "instance.transitioned",  # new -> checks_running
        "automation.step_succeeded",
        "instance.transitioned",  # first result recorded, still checking
        "automation.step_succeeded",
        "instance.transitioned",  # second result recorded -> active
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"national_id": "AB-123X"}, id="credit-check-fails"),
        pytest.param({"national_id": "AB-123R"}, id="credit-score-too-high"),
        pytest.param({"employer": "Unknown Corp"}, id="employer-not-verified"),
    ],
)
def test_failed_or_risky_checks_go_to_a_risk_officer(people, django_capture_on_commit_callbacks, overrides):
    application = run_account_activation(
        people["integration"], django_capture_on_commit_callbacks, **overrides
    )

    assert application.state == "risk_review"
    task = open_task(application)
    assert (task.step, task.queue.slug, task.priority) == ("risk_review", "risk-officers", 60)
    assert [t.pk for t in inbox_for(user=people["risk"]).tasks] == [task.pk]
    assert inbox_for(user=people["lead"]).tasks == []


def test_risk_officer_approves_and_the_account_is_activated(people, django_capture_on_commit_callbacks):
    application = run_account_activation(
        people["integration"], django_capture_on_commit_callbacks, national_id="AB-123X"
    )

    decide(open_task(application), people["risk"], "approve", comment="Known customer, manual check done")

    assert state_of(application) == "active"


def test_risk_officer_rejects_with_a_reason_and_the_account_is_declined(
    people, django_capture_on_commit_callbacks
):
    application = run_account_activation(
        people["integration"], django_capture_on_commit_callbacks, employer="Unknown Corp"
    )
    task = open_task(application)
    with writes_nothing(application, task), pytest.raises(InvalidDecision, match="comment is required"):
        task_complete(task=task, actor=people["risk"], outcome="reject")

    decide(task, people["risk"], "reject", comment="Employer could not be confirmed")

    assert state_of(application) == "declined"


def test_running_a_recorded_step_again_does_nothing(people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        application = start_account_activation(people["integration"], business_key="ACC-1")
    assert automated_step_run(
        instance_id=application.pk, step_name="credit_check", expected_state="checks_running"
    )
    events = AuditEvent.objects.count()
    application.refresh_from_db()
    recorded = application.data["credit_check"]

    # A redelivered job for the same step, while the other step is still outstanding.
    with writes_nothing(application):
        assert not automated_step_run(
            instance_id=application.pk, step_name="credit_check", expected_state="checks_running"
        )
    assert AuditEvent.objects.count() == events

    assert automated_step_run(
        instance_id=application.pk, step_name="employment_verification", expected_state="checks_running"
    )
    assert state_of(application) == "active"
    # And once the instance has moved on, both steps are no-ops.
    for step in ("credit_check", "employment_verification"):
        with writes_nothing(application):
            assert not automated_step_run(
                instance_id=application.pk, step_name=step, expected_state="checks_running"
            )
    application.refresh_from_db()
    assert application.data["credit_check"] == recorded


def test_unknown_automated_step_is_refused(people, django_capture_on_commit_callbacks):
    application = run_account_activation(people["integration"], django_capture_on_commit_callbacks)

    with writes_nothing(application), pytest.raises(NotFound):
        automated_step_run(instance_id=application.pk, step_name="horoscope", expected_state="checks_running")
    with pytest.raises(NotFound):
        automated_step_run(
            instance_id=application.pk + 1000, step_name="credit_check", expected_state="checks_running"
        )


def test_cancelled_while_checking_the_late_results_are_ignored(people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        application = start_account_activation(people["integration"], business_key="ACC-1")
        instance_transition(instance=application, transition="cancel", actor=people["integration"])

    application.refresh_from_db()
    assert application.state == "cancelled"
    assert "credit_check" not in application.data
    assert "employment_verification" not in application.data
    assert "automation.step_succeeded" not in audit_actions(application)


def test_manager_cancels_during_risk_review_and_the_review_task_is_cancelled(
    people, django_capture_on_commit_callbacks
):
    application = run_account_activation(
        people["integration"], django_capture_on_commit_callbacks, national_id="AB-123X"
    )
    task = open_task(application)

    instance_transition(instance=application, transition="cancel", actor=people["manager"])

    task.refresh_from_db()
    assert state_of(application) == "cancelled"
    assert task.state == "cancelled"
    assert inbox_for(user=people["risk"]).tasks == []
