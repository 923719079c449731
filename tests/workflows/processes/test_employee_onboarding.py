"""Employee onboarding: three parallel tasks in three queues; done when all three are done."""

from __future__ import annotations

import pytest

from apps.core.errors import InvalidDecision
from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_claim, task_complete
from apps.workflows.services import instance_transition
from tests.db_state import writes_nothing
from tests.factories import start_employee_onboarding
from tests.process_steps import decide, open_task, open_tasks, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DONE = {
    "payroll_setup": ("payroll", {"payroll_id": "PR-7781"}),
    "it_provisioning": ("it", {"asset_tag": "LAP-0042"}),
    "hr_paperwork": ("hr", {"contract_signed": True}),
}


@pytest.fixture
def onboarding(people):
    return start_employee_onboarding(people["integration"], business_key="EMP-1")


def test_three_tasks_open_at_once_each_in_its_own_queue(people, onboarding):
    tasks = open_tasks(onboarding)

    assert onboarding.state == "in_progress"
    assert sorted((t.step, t.queue.slug, t.state) for t in tasks) == [
        ("hr_paperwork", "hr", "open"),
        ("it_provisioning", "it", "open"),
        ("payroll_setup", "payroll", "open"),
    ]
    assert len({t.activation for t in tasks}) == 3
    for task in tasks:
        queue_role = DONE[task.step][0]
        assert [t.pk for t in inbox_for(user=people[queue_role]).tasks] == [task.pk]
    assert "Grace Hopper" in open_task(onboarding, "payroll_setup").title


@pytest.mark.parametrize(
    "order",
    [
        ("payroll_setup", "it_provisioning", "hr_paperwork"),
        ("hr_paperwork", "payroll_setup", "it_provisioning"),
        ("it_provisioning", "hr_paperwork", "payroll_setup"),
    ],
)
def test_completes_only_when_all_three_are_done(people, onboarding, order):
    for position, step in enumerate(order, start=1):
        role, data = DONE[step]
        decide(open_task(onboarding, step), people[role], "done", data=data)
        expected = "completed" if position == 3 else "in_progress"
        assert state_of(onboarding) == expected, f"after {step}"
        assert len(open_tasks(onboarding)) == 3 - position

    onboarding.refresh_from_db()
    assert onboarding.finished_at is not None


@pytest.mark.parametrize(
    ("step", "bad"),
    [
        ("payroll_setup", {}),
        ("payroll_setup", {"payroll_id": ""}),
        ("payroll_setup", {"payroll_id": 7781}),
        ("payroll_setup", {"payroll_id": "PR-1", "bank": "Example Bank"}),
        ("payroll_setup", {"payroll_id": "P" * 41}),
        ("it_provisioning", {"payroll_id": "PR-1"}),
        ("hr_paperwork", {"contract_signed": False}),
        ("hr_paperwork", {"contract_signed": "yes"}),
    ],
)
def test_decision_data_is_checked_against_the_step(people, onboarding, step, bad):
    role, _ = DONE[step]
    task = open_task(onboarding, step)
    task_claim(task=task, actor=people[role])

    with writes_nothing(onboarding, task), pytest.raises(InvalidDecision) as error:
        task_complete(task=task, actor=people[role], outcome="done", data=bad)

    assert all(key.startswith("data") for key in error.value.errors)


def test_missing_payroll_id_names_the_field(people, onboarding):
    task = open_task(onboarding, "payroll_setup")

    with writes_nothing(onboarding, task), pytest.raises(InvalidDecision) as error:
        task_complete(task=task, actor=people["payroll"], outcome="done", data={})

    assert error.value.errors == {"data.non_field_errors": ["'payroll_id' is a required property"]}


def test_cancelling_cancels_open_tasks_and_keeps_completed_ones(people, onboarding):
    payroll_role, payroll_data = DONE["payroll_setup"]
    done = decide(open_task(onboarding, "payroll_setup"), people[payroll_role], "done", data=payroll_data)
    claimed = open_task(onboarding, "it_provisioning")
    task_claim(task=claimed, actor=people["it"])

    instance_transition(
        instance=onboarding, transition="cancel", actor=people["manager"], data={"reason": "Offer declined"}
    )

    assert state_of(onboarding) == "cancelled"
    states = {t.step: t.state for t in onboarding.tasks.all()}
    assert states == {
        "payroll_setup": "completed",
        "it_provisioning": "cancelled",
        "hr_paperwork": "cancelled",
    }
    done.refresh_from_db()
    assert (done.outcome, done.decision_data, done.decided_by) == ("done", payroll_data, people["payroll"])
    for role in ("payroll", "it", "hr"):
        assert inbox_for(user=people[role]).tasks == []
