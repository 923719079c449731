"""The decision policy of a step (apps.workflows.definitions.DecisionPolicy), enforced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Q

from apps.humantasks.models import HumanTask

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.definitions import HumanStep
    from apps.workflows.models import WorkflowInstance


def decision_refusal(
    *, user: User, task: HumanTask, step: HumanStep, instance: WorkflowInstance
) -> str | None:
    """Why `user` may not take or decide `task` under its step's policy, or None if they may."""
    policy = step.policy
    if policy.only_requester and user.pk != instance.requester_id:
        return "Only the requester can act on this step."
    if policy.exclude_requester and user.pk == instance.requester_id:
        return "Four-eyes rule: you requested this, so someone else must decide it."
    decided = HumanTask.objects.filter(instance=instance, state=HumanTask.State.COMPLETED, decided_by=user)
    if policy.exclude_earlier_deciders:
        earlier = decided.exclude(step=step.name).values_list("step", flat=True).first()
        if earlier:
            return f"Separation of duties: you already decided the '{earlier}' step of this process."
    same_step = HumanTask.objects.filter(activation=task.activation).exclude(pk=task.pk)
    if same_step.filter(Q(decided_by=user) | Q(state=HumanTask.State.CLAIMED, assignee=user)).exists():
        return "This step needs different people: you already hold or decided another of its approvals."
    return None


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
