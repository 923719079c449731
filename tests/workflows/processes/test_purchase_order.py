"""Purchase-order approval end to end through the services and the inbox: thresholds,
N-of-M finance approval, four-eyes, separation of duties, changes, withdraw, reject, cancel."""

from __future__ import annotations

import pytest

from apps.core.errors import DecisionRefused, InvalidDecision, NotFound, NotPermitted, TransitionNotAllowed
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_claim, task_complete
from apps.workflows.services import instance_transition
from tests.db_state import audit_actions, writes_nothing
from tests.factories import purchase_order_data, start_purchase_order
from tests.process_steps import decide, open_task, open_tasks, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def approve_through(order, approvers):
    """Approve each open step with the next approver; return the steps in the order they opened."""
    steps = []
    approvers = list(approvers)
    while state_of(order) not in order.final_states:
        tasks = open_tasks(order)
        steps.append(tasks[0].step)
        for task in tasks:
            decide(task, approvers.pop(0))
    return steps


@pytest.mark.parametrize(
    ("amount", "steps", "priority"),
    [
        (100, ["team_lead_approval"], 50),
        (5000, ["team_lead_approval"], 50),
        (5000.01, ["team_lead_approval", "finance_approval"], 50),
        (50000, ["team_lead_approval", "finance_approval"], 50),
        (50000.01, ["team_lead_approval", "finance_approval", "cfo_approval"], 70),
        (250000, ["team_lead_approval", "finance_approval", "cfo_approval"], 70),
    ],
)
def test_amount_decides_which_levels_approve(people, amount, steps, priority):
    order = start_purchase_order(people["requester"], amount=amount)
    assert open_task(order).priority == priority

    taken = approve_through(order, [people[p] for p in ("lead", "finance", "finance2", "cfo")])

    assert taken == steps
    order.refresh_from_db()
    assert order.state == "approved"
    assert order.finished_at is not None
    assert open_tasks(order) == []
    assert audit_actions(order).count("task.completed") == {1: 1, 2: 3, 3: 4}[len(steps)]


def test_team_lead_task_reaches_team_leads_inbox_only(people):
    order = start_purchase_order(people["requester"], amount=1200)
    task = open_task(order)

    assert (task.queue.slug, task.step, task.state) == ("team-leads", "team_lead_approval", "open")
    assert "1200" in task.title and "Acme Tools" in task.title
    for who in ("lead", "lead2", "manager", "auditor"):
        assert [t.pk for t in inbox_for(user=people[who]).tasks] == [task.pk], who
    for who in ("requester", "finance", "cfo", "risk", "outsider", "integration"):
        assert inbox_for(user=people[who]).tasks == [], who


def test_finance_needs_two_different_people(people):
    order = start_purchase_order(people["requester"], amount=20000)
    decide(open_task(order), people["lead"])
    first, second = open_tasks(order, "finance_approval")
    assert first.activation == second.activation
    assert {first.title[-17:], second.title[-17:]} == {"(approval 1 of 2)", "(approval 2 of 2)"}
    assert {t.pk for t in inbox_for(user=people["finance"]).tasks} == {first.pk, second.pk}

    task_claim(task=first, actor=people["finance"])
    with writes_nothing(order, second), pytest.raises(DecisionRefused, match="different people"):
        task_claim(task=second, actor=people["finance"])
    with writes_nothing(order, second), pytest.raises(DecisionRefused, match="different people"):
        task_complete(task=second, actor=people["finance"], outcome="approve")

    task_complete(task=first, actor=people["finance"], outcome="approve")
    assert state_of(order) == "finance_review"  # one of two approvals is not enough
    with writes_nothing(order, second), pytest.raises(DecisionRefused, match="different people"):
        task_claim(task=second, actor=people["finance"])

    decide(second, people["finance2"])
    assert state_of(order) == "approved"


def test_one_finance_rejection_decides_the_step_and_cancels_the_other_approval(people):
    order = start_purchase_order(people["requester"], amount=20000)
    decide(open_task(order), people["lead"])
    first, second = open_tasks(order, "finance_approval")
    decide(first, people["finance"])

    decide(second, people["finance2"], "reject", comment="Supplier is not on the approved list")

    assert state_of(order) == "rejected"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.outcome) == ("completed", "approve")
    assert (second.state, second.outcome) == ("completed", "reject")


def test_first_finance_rejection_cancels_the_untouched_second_approval(people):
    order = start_purchase_order(people["requester"], amount=20000)
    decide(open_task(order), people["lead"])
    first, second = open_tasks(order, "finance_approval")

    decide(first, people["finance"], "reject", comment="Over budget")

    second.refresh_from_db()
    assert state_of(order) == "rejected"
    assert second.state == "cancelled"


def test_requester_who_is_a_team_lead_cannot_decide_their_own_order(people, make_user):
    lead_requester = make_user("Requesters", "Team leads", username="lead_requester")
    order = start_purchase_order(lead_requester, amount=1200)
    task = open_task(order)
    # They can see it (it is in their queue) but four-eyes stops them acting on it.
    assert task in inbox_for(user=lead_requester).tasks

    with writes_nothing(order, task), pytest.raises(DecisionRefused, match="Four-eyes"):
        task_claim(task=task, actor=lead_requester)
    with writes_nothing(order, task), pytest.raises(DecisionRefused, match="Four-eyes"):
        task_complete(task=task, actor=lead_requester, outcome="approve")

    decide(task, people["lead"])
    assert state_of(order) == "approved"


def test_team_lead_who_approved_cannot_also_approve_as_finance(people, make_user):
    both = make_user("Team leads", "Finance", username="lead_and_finance")
    order = start_purchase_order(people["requester"], amount=20000)
    decide(open_task(order), both)
    first, second = open_tasks(order, "finance_approval")

    for task in (first, second):
        with writes_nothing(order, task), pytest.raises(DecisionRefused, match="Separation of duties"):
            task_claim(task=task, actor=both)
        with writes_nothing(order, task), pytest.raises(DecisionRefused, match="Separation of duties"):
            task_complete(task=task, actor=both, outcome="approve")

    decide(first, people["finance"])
    decide(second, people["finance2"])
    assert state_of(order) == "approved"


def test_request_changes_needs_a_comment(people):
    order = start_purchase_order(people["requester"], amount=1200)
    task = open_task(order)
    task_claim(task=task, actor=people["lead"])
    task.refresh_from_db()

    for comment in ("", "   ", None):
        with writes_nothing(order, task), pytest.raises(InvalidDecision, match="comment is required"):
            task_complete(task=task, actor=people["lead"], outcome="request_changes", comment=comment)


def test_changes_go_back_to_the_requester_and_resubmission_reroutes_with_new_thresholds(people):
    order = start_purchase_order(people["requester"], amount=1200)
    decide(open_task(order), people["lead"], "request_changes", comment="Quote a second supplier")

    assert state_of(order) == "changes_requested"
    revise = open_task(order)
    assert (revise.step, revise.queue.slug, revise.state) == ("revise_order", "requesters", "claimed")
    assert revise.assignee == people["requester"]
    assert revise in inbox_for(user=people["requester"]).tasks
    # The revision is the requester's alone: another requester cannot even see it.
    assert revise not in inbox_for(user=people["requester2"]).tasks
    with writes_nothing(order, revise), pytest.raises(NotFound):
        task_complete(task=revise, actor=people["requester2"], outcome="resubmit")

    task_complete(
        task=revise,
        actor=people["requester"],
        outcome="resubmit",
        data={"amount": 20000, "supplier": "Beta Ltd"},
    )

    order.refresh_from_db()
    assert order.state == "team_lead_review"
    assert order.data == purchase_order_data(20000, supplier="Beta Ltd")
    review = open_task(order)
    assert "20000" in review.title and "Beta Ltd" in review.title
    # The lead who asked for changes may review the new version.
    decide(review, people["lead"])
    assert state_of(order) == "finance_review"  # 20000 now needs finance as well
    for task in open_tasks(order):
        decide(task, people["finance"] if task.title.endswith("1 of 2)") else people["finance2"])
    assert state_of(order) == "approved"
    assert audit_actions(order).count("instance.transitioned") == 5  # start, changes, resubmit, lead, finance


def test_resubmission_to_above_finance_limit_adds_the_cfo(people):
    order = start_purchase_order(people["requester"], amount=1200)
    decide(open_task(order), people["lead"], "request_changes", comment="Buy the full set")
    task_complete(
        task=open_task(order), actor=people["requester"], outcome="resubmit", data={"amount": 75000}
    )

    assert open_task(order).priority == 70
    steps = approve_through(order, [people[p] for p in ("lead2", "finance", "finance2", "cfo")])
    assert steps == ["team_lead_approval", "finance_approval", "cfo_approval"]


def test_revision_data_is_checked_before_resubmitting(people):
    order = start_purchase_order(people["requester"], amount=1200)
    decide(open_task(order), people["lead"], "request_changes", comment="Cheaper please")
    revise = open_task(order)

    for bad in ({"amount": -1}, {"amount": "lots"}, {"currency": "USD"}, {"colour": "red"}):
        with writes_nothing(order, revise), pytest.raises(InvalidDecision):
            task_complete(task=revise, actor=people["requester"], outcome="resubmit", data=bad)


def test_requester_may_withdraw_instead_of_revising(people):
    order = start_purchase_order(people["requester"], amount=1200)
    decide(open_task(order), people["lead"], "request_changes", comment="Is this still needed?")

    task_complete(task=open_task(order), actor=people["requester"], outcome="withdraw")

    order.refresh_from_db()
    assert order.state == "withdrawn"
    assert order.finished_at is not None
    assert open_tasks(order) == []


def test_reject_needs_a_comment_and_ends_the_order(people):
    order = start_purchase_order(people["requester"], amount=60000)
    task = open_task(order)
    with writes_nothing(order, task), pytest.raises(InvalidDecision, match="comment is required"):
        task_complete(task=task, actor=people["lead"], outcome="reject")

    done = task_complete(
        task=task, actor=people["lead"], outcome="reject", comment="Not in this year's budget"
    )

    assert (done.state, done.outcome, done.comment) == ("completed", "reject", "Not in this year's budget")
    assert state_of(order) == "rejected"
    assert open_tasks(order) == []


@pytest.mark.parametrize("who", ["requester", "manager"])
def test_requester_or_manager_cancels_and_every_open_task_is_cancelled(people, who):
    order = start_purchase_order(people["requester"], amount=20000)
    decide(open_task(order), people["lead"])
    first, second = open_tasks(order, "finance_approval")
    task_claim(task=first, actor=people["finance"])

    instance_transition(
        instance=order, transition="cancel", actor=people[who], data={"reason": "Bought elsewhere"}
    )

    assert state_of(order) == "cancelled"
    states = dict(HumanTask.objects.filter(instance=order).values_list("step", "state").order_by("id"))
    assert states == {"team_lead_approval": "completed", "finance_approval": "cancelled"}
    assert HumanTask.objects.filter(instance=order, state="cancelled").count() == 2
    assert inbox_for(user=people["finance"]).tasks == []


@pytest.mark.parametrize("who", ["outsider", "lead", "finance", "auditor", "requester2", "integration"])
def test_people_other_than_requester_and_managers_may_not_cancel(people, who):
    order = start_purchase_order(people["requester"], amount=1200)
    task = open_task(order)

    with writes_nothing(order, task), pytest.raises(NotPermitted):
        instance_transition(instance=order, transition="cancel", actor=people[who])


def test_finished_order_cannot_be_cancelled(people):
    order = start_purchase_order(people["requester"], amount=100)
    decide(open_task(order), people["lead"])

    with writes_nothing(order), pytest.raises(TransitionNotAllowed):
        instance_transition(instance=order, transition="cancel", actor=people["requester"])


@pytest.mark.parametrize(
    "transition", ["approve_by_cfo", "approve_by_team_lead", "reject", "request_changes", "resubmit", "start"]
)
def test_task_and_start_transitions_cannot_be_fired_directly(people, transition):
    order = start_purchase_order(people["requester"], amount=60000)
    task = open_task(order)

    with (
        writes_nothing(order, task),
        pytest.raises(TransitionNotAllowed, match="cannot be requested directly"),
    ):
        instance_transition(instance=order, transition=transition, actor=people["manager"])
