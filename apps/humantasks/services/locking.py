"""The one way a human task is locked and versioned by every writer (services and timers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.humantasks.models import HumanTask
from apps.workflows.services import instance_lock

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance


def task_lock(*, task_id: int, skip_locked: bool = False) -> tuple[HumanTask, WorkflowInstance] | None:
    """The task and its instance, locked for the rest of the transaction in the order every
    writer uses (instance, then task); None when there is no such task or, with
    `skip_locked`, when another transaction holds the instance (a timer leaves it for later).
    """
    instance_id = HumanTask.objects.filter(pk=task_id).values_list("instance_id", flat=True).first()
    if instance_id is None:
        return None
    instance = instance_lock(instance_id=instance_id, skip_locked=skip_locked)
    if instance is None:
        return None
    # Lock the task row only: a plain select_for_update() would lock the joined queue row too,
    # queueing every action on the queue's tasks behind one another and deadlocking moves
    # between two queues (each holds its queue and needs the other's for its foreign key).
    task = (
        HumanTask.objects.select_for_update(of=("self",)).select_related("queue", "assignee").get(pk=task_id)
    )
    task.instance = instance
    return task, instance


def task_save_new_version(task: HumanTask) -> None:
    """Save a change people should see as a new version (If-Match, ETags, live updates)."""
    task.version += 1
    task.save()
