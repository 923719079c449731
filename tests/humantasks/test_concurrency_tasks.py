"""Invariant 2: a human task is acted on by at most one person at a time.

Every test races real transactions on PostgreSQL (one thread and connection per racer,
released together by a barrier) and repeats the race, so that a missing lock shows up as
two winners, a lost update, a double transition or a deadlock error.
"""

from __future__ import annotations

from functools import partial

import pytest

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.core.errors import (
    DecisionRefused,
    DomainError,
    DuplicateBusinessKey,
    NotFound,
    TaskClosed,
    TaskConflict,
    TransitionNotAllowed,
)
from apps.humantasks.models import OPEN_STATES, HumanTask, Queue
from apps.humantasks.services import task_cancel, task_claim, task_complete, task_reassign
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import as_definition
from apps.workflows.services import instance_start, instance_transition
from tests.factories import purchase_order_data, start_employee_onboarding, start_purchase_order
from tests.process_steps import open_task, open_tasks
from tests.racing import Outcome, run_together, winners_and_losers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5
SMALL_ORDER = 1200  # a team lead alone approves it
FINANCE_ORDER = 12_000  # a team lead, then two of finance


def transitions_of(instance: WorkflowInstance) -> list[str]:
    """The transitions the instance went through, in order, from its audit chain."""
    events = AuditEvent.objects.filter(instance=instance, action="instance.transitioned").order_by("seq")
    return [data["transition"] for data in events.values_list("data", flat=True)]


def task_actions(task: HumanTask) -> list[str]:
    return list(AuditEvent.objects.filter(task=task).order_by("seq").values_list("action", flat=True))


def expect_only(outcomes: list[Outcome], *allowed: type[DomainError]) -> None:
    """Every racer that failed failed with one of `allowed`; anything else (a deadlock, an
    IntegrityError, a wrong domain error) fails the test with the original traceback."""
    for outcome in outcomes:
        if outcome.error is not None and not isinstance(outcome.error, allowed):
            raise AssertionError(
                f"unexpected {type(outcome.error).__name__}: {outcome.error}"
            ) from outcome.error


def assert_no_open_tasks_if_finished(instance: WorkflowInstance) -> None:
    if as_definition(WorkflowInstance.objects.get(pk=instance.pk)).is_finished:
        assert not HumanTask.objects.filter(instance=instance, state__in=OPEN_STATES).exists()


@pytest.fixture(autouse=True)
def _audit_chains_intact_afterwards():
    yield
    assert audit_chain_first_break()[1] is None


def test_two_people_claiming_one_task_get_one_success_and_one_conflict(people):
    for round_ in range(ROUNDS):
        task = open_task(
            start_purchase_order(people["requester"], amount=SMALL_ORDER, business_key=f"PO-CLAIM-{round_}"),
            "team_lead_approval",
        )

        outcomes = run_together(
            partial(task_claim, task=task.pk, actor=people["lead"]),
            partial(task_claim, task=task.pk, actor=people["lead2"]),
        )

        expect_only(outcomes, TaskConflict)
        [winner], [_loser] = winners_and_losers(outcomes)
        task.refresh_from_db()
        assert (task.state, task.assignee_id) == ("claimed", winner.value.assignee_id)
        assert task.version == 2
        assert task_actions(task) == ["task.created", "task.claimed"]


def test_two_people_deciding_one_task_get_one_success_and_the_instance_moves_once(people):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=SMALL_ORDER, business_key=f"PO-DECIDE-{round_}"
        )
        task = open_task(order, "team_lead_approval")

        outcomes = run_together(
            partial(task_complete, task=task.pk, actor=people["lead"], outcome="approve"),
            partial(task_complete, task=task.pk, actor=people["lead2"], outcome="approve"),
        )

        expect_only(outcomes, TaskConflict, TaskClosed)
        [winner], [_loser] = winners_and_losers(outcomes)
        task.refresh_from_db()
        assert (task.state, task.decided_by_id) == ("completed", winner.value.decided_by_id)
        assert transitions_of(order) == ["start", "approve_by_team_lead"]
        order.refresh_from_db()
        assert order.state == "approved"
        assert task_actions(task) == ["task.created", "task.completed", "instance.transitioned"]


def test_a_claim_racing_a_decision_on_one_task_leaves_one_consistent_result(people):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=SMALL_ORDER, business_key=f"PO-CLAIM-DECIDE-{round_}"
        )
        task = open_task(order, "team_lead_approval")

        claim, decision = run_together(
            partial(task_claim, task=task.pk, actor=people["lead"]),
            partial(task_complete, task=task.pk, actor=people["lead2"], outcome="approve"),
        )

        expect_only([claim, decision], TaskConflict, TaskClosed)
        assert claim.succeeded != decision.succeeded
        task.refresh_from_db()
        order.refresh_from_db()
        if claim.succeeded:
            assert isinstance(decision.error, TaskConflict)
            assert (task.state, task.assignee, order.state) == ("claimed", people["lead"], "team_lead_review")
        else:
            assert isinstance(claim.error, TaskClosed)
            assert (task.state, task.decided_by, order.state) == ("completed", people["lead2"], "approved")


def test_a_claim_racing_a_managers_reassignment_never_leaves_two_holders(people):
    for round_ in range(ROUNDS):
        task = open_task(
            start_purchase_order(
                people["requester"], amount=SMALL_ORDER, business_key=f"PO-REASSIGN-{round_}"
            ),
            "team_lead_approval",
        )

        claim, reassignment = run_together(
            partial(task_claim, task=task.pk, actor=people["lead"]),
            partial(
                task_reassign,
                task=task.pk,
                actor=people["manager"],
                to_user=people["lead2"],
                reason="Workload",
            ),
        )

        expect_only([claim, reassignment], TaskConflict)
        assert reassignment.succeeded, (
            "the manager's reassignment applies whether or not the claim came first"
        )
        task.refresh_from_db()
        assert (task.state, task.assignee) == ("claimed", people["lead2"])
        reassigned = AuditEvent.objects.get(task=task, action="task.reassigned")
        if claim.succeeded:
            # The claim committed first, so the reassignment saw (and took the task from) the claimant.
            assert task_actions(task) == ["task.created", "task.claimed", "task.reassigned"]
            assert (reassigned.from_state, reassigned.data["from_assignee"]) == ("claimed", "lead")
            assert task.version == 3
        else:
            assert isinstance(claim.error, TaskConflict)
            assert task_actions(task) == ["task.created", "task.reassigned"]
            assert (reassigned.from_state, reassigned.data["from_assignee"]) == ("open", None)
            assert task.version == 2


def test_a_claim_racing_a_move_to_another_queue_lands_in_exactly_one_place(people):
    for round_ in range(ROUNDS):
        task = open_task(
            start_purchase_order(people["requester"], amount=SMALL_ORDER, business_key=f"PO-MOVE-{round_}"),
            "team_lead_approval",
        )
        cfo_queue = Queue.objects.get(slug="cfo")

        claim, move = run_together(
            partial(task_claim, task=task.pk, actor=people["lead"]),
            partial(
                task_reassign, task=task.pk, actor=people["manager"], to_queue=cfo_queue, reason="Escalate"
            ),
        )

        # Moved first, the task is out of the team lead's sight: they are told it does not exist.
        expect_only([claim, move], NotFound)
        assert move.succeeded
        task.refresh_from_db()
        assert (task.state, task.assignee, task.queue.slug) == ("open", None, "cfo")
        expected = (
            ["task.created", "task.claimed", "task.reassigned"]
            if claim.succeeded
            else ["task.created", "task.reassigned"]
        )
        assert task_actions(task) == expected


def test_tasks_moved_between_two_queues_in_opposite_directions_at_once_both_move(people):
    """Each move locks its task and, at commit, checks the foreign key to the queue it moves
    to; if locking a task also locked its queue row, the two moves would wait for each
    other's queue and PostgreSQL would kill one of them as a deadlock."""
    team_leads, finance = Queue.objects.get(slug="team-leads"), Queue.objects.get(slug="finance")
    for round_ in range(ROUNDS):
        small = start_purchase_order(
            people["requester"], amount=SMALL_ORDER, business_key=f"PO-SWAP-A-{round_}"
        )
        large = start_purchase_order(
            people["requester"], amount=FINANCE_ORDER, business_key=f"PO-SWAP-B-{round_}"
        )
        task_complete(task=open_task(large, "team_lead_approval"), actor=people["lead"], outcome="approve")
        to_finance = open_task(small, "team_lead_approval")
        to_team_leads = open_tasks(large, "finance_approval")[0]

        outcomes = run_together(
            partial(
                task_reassign, task=to_finance.pk, actor=people["manager"], to_queue=finance, reason="Swap"
            ),
            partial(
                task_reassign,
                task=to_team_leads.pk,
                actor=people["manager"],
                to_queue=team_leads,
                reason="Swap",
            ),
        )

        expect_only(outcomes)
        to_finance.refresh_from_db()
        to_team_leads.refresh_from_db()
        assert (to_finance.queue, to_team_leads.queue) == (finance, team_leads)


def test_two_finance_approvals_completing_at_once_move_the_order_exactly_once(people):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=FINANCE_ORDER, business_key=f"PO-QUORUM-{round_}"
        )
        task_complete(task=open_task(order, "team_lead_approval"), actor=people["lead"], outcome="approve")
        first, second = HumanTask.objects.filter(instance=order, step="finance_approval").order_by("id")

        outcomes = run_together(
            partial(task_complete, task=first.pk, actor=people["finance"], outcome="approve"),
            partial(task_complete, task=second.pk, actor=people["finance2"], outcome="approve"),
        )

        expect_only(outcomes)
        order.refresh_from_db()
        assert order.state == "approved"
        assert transitions_of(order) == ["start", "approve_by_team_lead", "approve_by_finance"]
        # Serialized on the instance row: one decision saw 1 of 2 approvals, the other 2 of 2.
        completed = AuditEvent.objects.filter(
            instance=order, action="task.completed", data__step="finance_approval"
        )
        counts = sorted((e.data["approvals"], e.data["step_decided"]) for e in completed)
        assert counts == [(1, False), (2, True)]


def test_one_person_taking_both_approval_slots_at_once_gets_only_one(people):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=FINANCE_ORDER, business_key=f"PO-SLOTS-{round_}"
        )
        task_complete(task=open_task(order, "team_lead_approval"), actor=people["lead"], outcome="approve")
        first, second = HumanTask.objects.filter(instance=order, step="finance_approval").order_by("id")

        outcomes = run_together(
            partial(task_claim, task=first.pk, actor=people["finance"]),
            partial(task_claim, task=second.pk, actor=people["finance"]),
        )

        expect_only(outcomes, DecisionRefused)
        winners, losers = winners_and_losers(outcomes)
        assert (len(winners), len(losers)) == (1, 1)
        held = HumanTask.objects.filter(instance=order, step="finance_approval", assignee=people["finance"])
        assert held.count() == 1


CANCEL_BY_REQUESTER = "requester cancels the order"
CANCEL_BY_MANAGER = "manager cancels the task"


@pytest.mark.parametrize("cancel", [CANCEL_BY_REQUESTER, CANCEL_BY_MANAGER])
def test_cancelling_while_the_last_approval_is_decided_applies_exactly_one_of_them(people, cancel):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=SMALL_ORDER, business_key=f"PO-CANCEL-{len(cancel)}-{round_}"
        )
        task = open_task(order, "team_lead_approval")
        if cancel == CANCEL_BY_REQUESTER:
            cancelling = partial(
                instance_transition, instance=order.pk, transition="cancel", actor=people["requester"]
            )
        else:
            cancelling = partial(
                task_cancel, task=task.pk, actor=people["manager"], reason="Supplier went bust"
            )

        cancellation, decision = run_together(
            cancelling, partial(task_complete, task=task.pk, actor=people["lead"], outcome="approve")
        )

        expect_only([cancellation, decision], TaskClosed, TransitionNotAllowed)
        assert cancellation.succeeded != decision.succeeded
        order.refresh_from_db()
        task.refresh_from_db()
        if cancellation.succeeded:
            assert (order.state, task.state, task.decided_by) == ("cancelled", "cancelled", None)
            assert transitions_of(order) == ["start", "cancel"]
        else:
            assert (order.state, task.state) == ("approved", "completed")
            assert transitions_of(order) == ["start", "approve_by_team_lead"]
        assert_no_open_tasks_if_finished(order)


def test_cancelling_onboarding_while_its_last_step_is_done_applies_exactly_one_of_them(people):
    for round_ in range(ROUNDS):
        onboarding = start_employee_onboarding(people["hr"], business_key=f"ONB-CANCEL-{round_}")
        task_complete(
            task=open_task(onboarding, "payroll_setup"),
            actor=people["payroll"],
            outcome="done",
            data={"payroll_id": "P-1"},
        )
        task_complete(
            task=open_task(onboarding, "it_provisioning"),
            actor=people["it"],
            outcome="done",
            data={"asset_tag": "LT-1"},
        )
        last = open_task(onboarding, "hr_paperwork")

        cancellation, decision = run_together(
            partial(
                instance_transition, instance=onboarding.pk, transition="cancel", actor=people["manager"]
            ),
            partial(
                task_complete,
                task=last.pk,
                actor=people["hr2"],
                outcome="done",
                data={"contract_signed": True},
            ),
        )

        expect_only([cancellation, decision], TaskClosed, TransitionNotAllowed)
        assert cancellation.succeeded != decision.succeeded
        onboarding.refresh_from_db()
        expected = "cancelled" if cancellation.succeeded else "completed"
        assert onboarding.state == expected
        assert transitions_of(onboarding)[-1] == ("cancel" if cancellation.succeeded else "record_task_done")
        assert_no_open_tasks_if_finished(onboarding)


def test_cancelling_while_both_finance_approvals_land_never_half_applies(people):
    for round_ in range(ROUNDS):
        order = start_purchase_order(
            people["requester"], amount=FINANCE_ORDER, business_key=f"PO-CANCEL-QUORUM-{round_}"
        )
        task_complete(task=open_task(order, "team_lead_approval"), actor=people["lead"], outcome="approve")
        first, second = HumanTask.objects.filter(instance=order, step="finance_approval").order_by("id")

        cancellation, *approvals = run_together(
            partial(instance_transition, instance=order.pk, transition="cancel", actor=people["requester"]),
            partial(task_complete, task=first.pk, actor=people["finance"], outcome="approve"),
            partial(task_complete, task=second.pk, actor=people["finance2"], outcome="approve"),
        )

        expect_only([cancellation, *approvals], TaskClosed, TransitionNotAllowed)
        order.refresh_from_db()
        history = transitions_of(order)
        states = sorted(
            HumanTask.objects.filter(instance=order, step="finance_approval").values_list("state", flat=True)
        )
        if cancellation.succeeded:
            assert order.state == "cancelled"
            assert history == ["start", "approve_by_team_lead", "cancel"]
            assert states.count("completed") == sum(a.succeeded for a in approvals) <= 1
            assert "open" not in states and "claimed" not in states
        else:
            assert all(a.succeeded for a in approvals)
            assert order.state == "approved"
            assert history == ["start", "approve_by_team_lead", "approve_by_finance"]
            assert states == ["completed", "completed"]


def test_two_systems_starting_the_same_business_key_at_once_create_one_instance(people):
    for round_ in range(ROUNDS):
        key = f"PO-DUP-{round_}"
        start = partial(
            instance_start,
            kind="purchase_order",
            business_key=key,
            data=purchase_order_data(),
            actor=people["requester"],
        )

        outcomes = run_together(start, start)

        expect_only(outcomes, DuplicateBusinessKey)
        [_winner], [_loser] = winners_and_losers(outcomes)
        assert WorkflowInstance.objects.filter(kind="purchase_order", business_key=key).count() == 1
        assert HumanTask.objects.filter(instance__business_key=key).count() == 1
