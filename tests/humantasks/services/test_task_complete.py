"""task_complete: a decision is checked against its step before anything is written."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.accounts.models import User
from apps.core.errors import InvalidDecision, StaleVersion, TaskClosed, TaskConflict
from apps.humantasks.services import MAX_COMMENT_LENGTH, task_claim, task_complete
from tests.db_state import writes_nothing
from tests.factories import start_employee_onboarding
from tests.process_steps import decide, open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def claimed(people, order):
    """The order's team-lead task, claimed by `lead`."""
    return task_claim(task=open_task(order), actor=people["lead"])


def test_decision_is_recorded_on_the_task(people, order, claimed):
    done = task_complete(task=claimed, actor=people["lead"], outcome="approve", comment="  Fine by me  ")

    done.refresh_from_db()
    assert (done.state, done.outcome, done.comment, done.decision_data) == (
        "completed",
        "approve",
        "Fine by me",
        {},
    )
    assert done.decided_by == done.assignee == people["lead"]
    assert done.closed_at is not None and done.claimed_at <= done.closed_at
    assert done.version == claimed.version + 1


def test_open_task_may_be_decided_without_claiming_first(people, order):
    done = task_complete(task=open_task(order), actor=people["lead2"], outcome="approve")

    assert (done.state, done.assignee) == ("completed", people["lead2"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"outcome": "maybe"}, "outcome", id="unknown-outcome"),
        pytest.param({"outcome": "done"}, "outcome", id="outcome-of-another-step"),
        pytest.param({"outcome": "APPROVE"}, "outcome", id="outcome-wrong-case"),
        pytest.param({"outcome": None}, "outcome", id="outcome-none"),
        pytest.param({"outcome": ["approve"]}, "outcome", id="outcome-list"),
        pytest.param({"outcome": "approve", "comment": 42}, "comment", id="comment-number"),
        pytest.param({"outcome": "approve", "comment": ["ok"]}, "comment", id="comment-list"),
        pytest.param(
            {"outcome": "approve", "comment": "x" * (MAX_COMMENT_LENGTH + 1)}, "comment", id="comment-long"
        ),
        pytest.param({"outcome": "approve", "comment": "ok\x00"}, "comment", id="comment-nul"),
        pytest.param({"outcome": "approve", "data": []}, "data", id="data-list"),
        pytest.param({"outcome": "approve", "data": "yes"}, "data", id="data-text"),
        pytest.param(
            {"outcome": "reject", "comment": "No", "data": {"why": "x"}}, "data", id="data-with-reject"
        ),
        pytest.param({"outcome": "request_changes", "comment": ""}, "comment", id="changes-without-comment"),
        pytest.param({"outcome": "reject", "comment": " \n\t "}, "comment", id="reject-blank-comment"),
    ],
)
def test_bad_decisions_are_refused_and_write_nothing(people, order, claimed, kwargs, field):
    with writes_nothing(order, claimed), pytest.raises(InvalidDecision) as error:
        task_complete(task=claimed, actor=people["lead"], **kwargs)

    assert list(error.value.errors) == [field]


def test_decision_data_over_the_size_limit_is_refused(people):
    onboarding = start_employee_onboarding(people["hr"], business_key="EMP-1")
    task = open_task(onboarding, "payroll_setup")
    huge = {"payroll_id": "P" * settings.WORKFLOW_DECISION_DATA_MAX_BYTES}

    with writes_nothing(onboarding, task), pytest.raises(InvalidDecision, match="bytes; at most"):
        task_complete(task=task, actor=people["payroll"], outcome="done", data=huge)


def test_task_claimed_by_someone_else_cannot_be_decided(people, order, claimed):
    with writes_nothing(order, claimed), pytest.raises(TaskConflict, match="Someone else"):
        task_complete(task=claimed, actor=people["lead2"], outcome="approve")


def test_decided_task_cannot_be_decided_again(people, order, claimed):
    decide(claimed, people["lead"])

    for who in ("lead", "lead2"):
        with writes_nothing(order, claimed), pytest.raises(TaskClosed, match="already completed"):
            task_complete(task=claimed, actor=people[who], outcome="reject", comment="Changed my mind")


def test_stale_expected_version_is_refused(people, order, claimed):
    with writes_nothing(order, claimed), pytest.raises(StaleVersion):
        task_complete(
            task=claimed, actor=people["lead"], outcome="approve", expected_version=claimed.version - 1
        )


def test_a_claim_costs_seven_statements_and_its_decision_eight(people, order, django_assert_num_queries):
    task = open_task(order)
    lead = User.objects.get(pk=people["lead"].pk)  # read afresh, as a request reads it
    # SAVEPOINT (the test's transaction holds the real one); 1 lock the instance, found by the
    # task's id; 1 lock the task with its queue and assignee, the lead's grants on both, the
    # step policy's facts about the lead and the head of the instance's audit chain; 1 the task
    # saved; 1 its audit event; 1 its outbox event; RELEASE.
    with django_assert_num_queries(7):
        claimed = task_claim(task=task.pk, actor=lead)
    # The same two locks (the task's with the step's N-of-M counts, and whether the order has
    # other open tasks, too), 1 the task saved; the order's transition: 1 the instance saved (no
    # query for open tasks to close: the lock said there are none); at the end, 1 the two audit
    # events (the decision's, the transition's) in one INSERT, 1 the two outbox events; RELEASE.
    with django_assert_num_queries(8):
        done = task_complete(task=task.pk, actor=lead, outcome="approve", expected_version=claimed.version)
    order.refresh_from_db()
    assert (done.state, order.state) == ("completed", "approved")
