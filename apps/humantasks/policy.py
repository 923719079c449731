"""The decision policy of a step (apps.workflows.definitions.DecisionPolicy), enforced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from apps.humantasks.models import HumanTask
from apps.workflows.registry import as_definition

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.definitions import HumanStep
    from apps.workflows.models import WorkflowInstance


ONLY_REQUESTER = "Only the requester can act on this step."
FOUR_EYES = "Four-eyes rule: you requested this, so someone else must decide it."
DIFFERENT_PEOPLE = "This step needs different people: you already hold or decided another of its approvals."


def _earlier_step_refusal(step_name: str) -> str:
    return f"Separation of duties: you already decided the '{step_name}' step of this process."


@dataclass(frozen=True)
class DecisionFacts:
    """What a decision policy needs to know of one person and one task beyond the task row:
    the step of this instance they decided already, if any (its name), and whether they hold
    or decided another task of the same N-of-M step."""

    earlier_step: str | None
    holds_sibling: bool


def _opened_together(instance_id: Any, step: Any, activation: Any) -> QuerySet[HumanTask]:
    """The tasks of one entry into a step (its N of M). `activation` alone says which, but has
    no index: the instance and step, which it implies, let task_instance_step_idx find them
    instead of a walk of every task ever opened."""
    return HumanTask.objects.filter(instance_id=instance_id, step=step, activation=activation)


def decision_facts_annotations(*, user: User) -> dict[str, Any]:
    """Annotations of a HumanTask query that read `user`'s DecisionFacts with each task row."""
    earlier = (
        HumanTask.objects.filter(
            instance_id=OuterRef("instance_id"), state=HumanTask.State.COMPLETED, decided_by=user
        )
        .exclude(step=OuterRef("step"))
        .order_by("pk")
        .values("step")[:1]
    )
    sibling = (
        _opened_together(OuterRef("instance_id"), OuterRef("step"), OuterRef("activation"))
        .exclude(pk=OuterRef("pk"))
        .filter(Q(decided_by=user) | Q(state=HumanTask.State.CLAIMED, assignee=user))
    )
    return {"policy_earlier_step": Subquery(earlier), "policy_holds_sibling": Exists(sibling)}


def decision_facts_of(task: HumanTask) -> DecisionFacts:
    """The facts a task row was read with (decision_facts_annotations)."""
    return DecisionFacts(earlier_step=task.policy_earlier_step, holds_sibling=bool(task.policy_holds_sibling))


def _decision_facts_read(*, user: User, task: HumanTask, step: HumanStep) -> DecisionFacts:
    decided = HumanTask.objects.filter(
        instance_id=task.instance_id, state=HumanTask.State.COMPLETED, decided_by=user
    )
    earlier = None
    if step.policy.exclude_earlier_deciders:
        earlier = decided.exclude(step=step.name).values_list("step", flat=True).first()
    same_step = _opened_together(task.instance_id, task.step, task.activation).exclude(pk=task.pk)
    holds = same_step.filter(Q(decided_by=user) | Q(state=HumanTask.State.CLAIMED, assignee=user)).exists()
    return DecisionFacts(earlier_step=earlier, holds_sibling=holds)


def decision_refusal(
    *,
    user: User,
    task: HumanTask,
    step: HumanStep,
    instance: WorkflowInstance,
    facts: DecisionFacts | None = None,
) -> str | None:
    """Why `user` may not take or decide `task` under its step's policy, or None if they may.
    `facts` are the ones the caller read with the task (decision_facts_annotations);
    otherwise what the policy needs is read here."""
    policy = step.policy
    if policy.only_requester and user.pk != instance.requester_id:
        return ONLY_REQUESTER
    if policy.exclude_requester and user.pk == instance.requester_id:
        return FOUR_EYES
    if facts is None:
        facts = _decision_facts_read(user=user, task=task, step=step)
    if policy.exclude_earlier_deciders and facts.earlier_step:
        return _earlier_step_refusal(facts.earlier_step)
    if facts.holds_sibling:
        return DIFFERENT_PEOPLE
    return None


def quorum_annotations(*, instance: WorkflowInstance) -> dict[str, Any]:
    """Annotations of a HumanTask query of `instance`: how many tasks the row's step opened
    together (its N-of-M), how many of the others were approved already, and whether the
    instance has other open tasks at all."""
    together = (
        _opened_together(OuterRef("instance_id"), OuterRef("step"), OuterRef("activation"))
        .order_by()
        .values("activation")
    )
    approved = Q()
    for step in instance.human_steps:
        approved |= Q(step=step.name, outcome=step.approving_outcome)
    others_open = HumanTask.objects.filter(
        instance_id=OuterRef("instance_id"), state__in=(HumanTask.State.OPEN, HumanTask.State.CLAIMED)
    ).exclude(pk=OuterRef("pk"))
    return {
        "others_open": Exists(others_open),
        "quorum_size": Subquery(together.annotate(n=Count("pk")).values("n")),
        "quorum_other_approvals": Subquery(
            together.filter(approved, state=HumanTask.State.COMPLETED)
            .exclude(pk=OuterRef("pk"))
            .annotate(n=Count("pk"))
            .values("n")
        ),
    }


def decision_refusals(*, user: User, tasks: list[HumanTask]) -> dict[int, str]:
    """decision_refusal for a page of open tasks at once, in two queries whatever their number
    (the decisions `user` made on the tasks' instances, and the N-of-M siblings `user` holds
    or decided). Tasks whose step is gone are left out; the task page explains those.

    The tasks must have their instance loaded (select_related), as inbox_for returns them.
    """
    if not tasks:
        return {}
    decided = set(
        HumanTask.objects.filter(
            instance_id__in={task.instance_id for task in tasks},
            state=HumanTask.State.COMPLETED,
            decided_by=user,
        ).values_list("instance_id", "step", "pk")
    )
    held_siblings = set(
        HumanTask.objects.filter(
            instance_id__in={task.instance_id for task in tasks},
            activation__in={task.activation for task in tasks},
        )
        .filter(Q(decided_by=user) | Q(state=HumanTask.State.CLAIMED, assignee=user))
        .values_list("activation", "pk")
    )
    refusals: dict[int, str] = {}
    for task in tasks:
        if not task.is_open:
            continue
        instance = as_definition(task.instance)
        step = instance.human_step(task.step)
        if step is None:
            continue
        policy = step.policy
        refusal = None
        if policy.only_requester and user.pk != instance.requester_id:
            refusal = ONLY_REQUESTER
        elif policy.exclude_requester and user.pk == instance.requester_id:
            refusal = FOUR_EYES
        elif policy.exclude_earlier_deciders and (
            earlier := sorted(s for (i, s, _pk) in decided if i == task.instance_id and s != step.name)
        ):
            refusal = _earlier_step_refusal(earlier[0])
        elif any(a == task.activation and pk != task.pk for (a, pk) in held_siblings):
            refusal = DIFFERENT_PEOPLE
        if refusal:
            refusals[task.pk] = refusal
    return refusals


def eligible_deciders(*, step: HumanStep, instance: WorkflowInstance, role_id: int) -> list[int]:
    """Active members of the step's role whom the policy lets decide (used for "all" quorums)."""
    users = get_user_model().objects.filter(groups__pk=role_id, is_active=True)
    if step.policy.exclude_requester and instance.requester_id:
        users = users.exclude(pk=instance.requester_id)
    if step.policy.exclude_earlier_deciders:
        earlier = HumanTask.objects.filter(instance=instance, state=HumanTask.State.COMPLETED).exclude(
            step=step.name
        )
        users = users.exclude(pk__in=earlier.values("decided_by"))
    return list(users.values_list("pk", flat=True).distinct())


def approvals_required(*, step: HumanStep, instance: WorkflowInstance, role_id: int) -> int:
    required = step.policy.approvals_required
    if required == "all":
        return max(1, len(eligible_deciders(step=step, instance=instance, role_id=role_id)))
    return max(1, int(required))
