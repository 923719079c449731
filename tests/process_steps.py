"""Moving process instances through their human steps in tests, through the real services."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.humantasks.services import task_claim, task_complete
from apps.workflows.models import WorkflowInstance


def open_tasks(instance: WorkflowInstance, step: str | None = None) -> list[HumanTask]:
    """The instance's open or claimed tasks (of one step, if given), oldest first."""
    tasks = HumanTask.objects.filter(instance=instance, state__in=OPEN_STATES).select_related(
        "queue", "assignee"
    )
    if step is not None:
        tasks = tasks.filter(step=step)
    return list(tasks.order_by("id"))


def open_task(instance: WorkflowInstance, step: str | None = None) -> HumanTask:
    """The single open task of the instance (of `step`); fails the test if there is not exactly one."""
    [task] = open_tasks(instance, step)
    return task


def decide(
    task: HumanTask,
    actor: User,
    outcome: str = "approve",
    *,
    data: dict[str, Any] | None = None,
    comment: str = "",
) -> HumanTask:
    """Claim the task as `actor` (unless it is already theirs) and decide it."""
    task.refresh_from_db()
    if task.assignee_id != actor.pk:
        task_claim(task=task, actor=actor)
    return task_complete(task=task, actor=actor, outcome=outcome, data=data, comment=comment)


def state_of(instance: WorkflowInstance) -> str:
    return WorkflowInstance.objects.values_list("state", flat=True).get(pk=instance.pk)
