"""task_delegate: the assignee hands their task to a colleague who could decide it too."""

from __future__ import annotations

import pytest

from apps.core.errors import DecisionRefused, InvalidDecision, NotPermitted
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_delegate, task_grant
from tests.db_state import writes_nothing
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_assignee_delegates_to_a_colleague_who_then_decides(people, order):
    task = task_claim(task=open_task(order), actor=people["lead"])

    delegated = task_delegate(task=task, actor=people["lead"], to_user=people["lead2"], reason="Off sick")

    assert (delegated.state, delegated.assignee) == ("claimed", people["lead2"])
    decide(delegated, people["lead2"])


@pytest.mark.parametrize(
    ("to", "reason", "error", "message"),
    [
        pytest.param("finance", "", InvalidDecision, "does not work", id="outside-role"),
        pytest.param("outsider", "", InvalidDecision, "does not work", id="outsider"),
        pytest.param("manager", "", InvalidDecision, "does not work", id="manager-does-not-decide"),
        pytest.param("inactive_lead", "", InvalidDecision, "does not work", id="inactive"),
        pytest.param("lead", "", InvalidDecision, "already hold", id="self"),
        pytest.param("lead2", 3, InvalidDecision, "must be text", id="reason-number"),
        pytest.param("lead2", "x" * 1001, InvalidDecision, "too long", id="reason-long"),
    ],
)
def test_bad_delegations_are_refused_and_write_nothing(people, make_user, order, to, reason, error, message):
    people["inactive_lead"] = make_user("Team leads", username="inactive_lead", is_active=False)
    task = task_claim(task=open_task(order), actor=people["lead"])

    with writes_nothing(order, task), pytest.raises(error, match=message):
        task_delegate(task=task, actor=people["lead"], to_user=people[to], reason=reason)


def test_only_the_assignee_delegates(people, order):
    task = open_task(order)
    with writes_nothing(order, task), pytest.raises(NotPermitted, match="claim it first"):
        task_delegate(task=task, actor=people["lead"], to_user=people["lead2"])

    task = task_claim(task=task, actor=people["lead"])
    with writes_nothing(order, task), pytest.raises(NotPermitted, match="Only the task's assignee"):
        task_delegate(task=task, actor=people["lead2"], to_user=people["lead2"])


def test_cannot_delegate_to_the_requester_who_is_also_a_lead(people, make_user):
    lead_requester = make_user("Requesters", "Team leads", username="lead_requester")
    order = start_purchase_order(lead_requester, business_key="PO-2")
    task = task_claim(task=open_task(order), actor=people["lead"])

    with writes_nothing(order, task), pytest.raises(DecisionRefused, match="Four-eyes"):
        task_delegate(task=task, actor=people["lead"], to_user=lead_requester)


def test_cannot_delegate_an_n_of_m_approval_to_someone_holding_its_sibling(people, order):
    big = start_purchase_order(people["requester"], amount=20000, business_key="PO-3")
    decide(open_task(big), people["lead"])
    first, second = open_tasks(big, "finance_approval")
    task_claim(task=first, actor=people["finance"])
    second = task_claim(task=second, actor=people["finance2"])

    with writes_nothing(big, second), pytest.raises(DecisionRefused, match="different people"):
        task_delegate(task=second, actor=people["finance2"], to_user=people["finance"])


def test_confidential_task_goes_only_to_another_grantee(people, order):
    task = open_task(order)
    HumanTask.objects.filter(pk=task.pk).update(is_confidential=True)
    for grantee in ("lead", "cfo"):
        task_grant(task=task, user=people[grantee], actor=people["manager"])
    task = task_claim(task=task, actor=people["lead"])

    # lead2 works the queue but was not granted this task.
    with writes_nothing(order, task), pytest.raises(InvalidDecision, match="does not work"):
        task_delegate(task=task, actor=people["lead"], to_user=people["lead2"])

    delegated = task_delegate(task=task, actor=people["lead"], to_user=people["cfo"])
    assert delegated.assignee == people["cfo"]
