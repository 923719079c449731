"""task_cancel: a queue manager cancels the work a task stands for, i.e. its whole process."""

from __future__ import annotations

import pytest

from apps.core.errors import InvalidDecision, NotFound, NotPermitted, TaskClosed
from apps.humantasks.services import task_cancel, task_claim
from tests.db_state import writes_nothing
from tests.factories import start_employee_onboarding
from tests.process_steps import decide, open_task, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def onboarding(people):
    return start_employee_onboarding(people["hr"], business_key="EMP-1")


def test_manager_cancels_one_task_and_the_process_with_all_its_open_tasks(people, onboarding):
    decide(open_task(onboarding, "hr_paperwork"), people["hr2"], "done", data={"contract_signed": True})
    payroll = task_claim(task=open_task(onboarding, "payroll_setup"), actor=people["payroll"])

    cancelled = task_cancel(task=payroll, actor=people["manager"], reason="Start date moved to next year")

    assert cancelled.state == "cancelled"
    assert state_of(onboarding) == "cancelled"
    states = dict(onboarding.tasks.values_list("step", "state"))
    assert states == {
        "hr_paperwork": "completed",
        "payroll_setup": "cancelled",
        "it_provisioning": "cancelled",
    }


@pytest.mark.parametrize("reason", ["", "  ", None, 12])
def test_cancel_needs_a_reason(people, onboarding, reason):
    task = open_task(onboarding, "it_provisioning")

    with writes_nothing(onboarding, task), pytest.raises(InvalidDecision):
        task_cancel(task=task, actor=people["manager"], reason=reason)


@pytest.mark.parametrize(
    ("who", "error"),
    [("it", NotPermitted), ("auditor", NotPermitted), ("hr", NotFound), ("outsider", NotFound)],
)
def test_only_managers_cancel_tasks(people, onboarding, who, error):
    task = open_task(onboarding, "it_provisioning")

    with writes_nothing(onboarding, task), pytest.raises(error):
        task_cancel(task=task, actor=people[who], reason="Not needed")


def test_completed_task_cannot_be_cancelled(people, onboarding):
    task = decide(open_task(onboarding, "it_provisioning"), people["it"], "done", data={"asset_tag": "LAP-1"})

    with writes_nothing(onboarding, task), pytest.raises(TaskClosed):
        task_cancel(task=task, actor=people["manager"], reason="Not needed")
