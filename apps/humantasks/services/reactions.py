"""How human tasks follow the engine: registered with apps.workflows.reactions when the app
starts (HumantasksConfig.ready), called by instance_fire inside its transaction.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import transactions
from apps.core.compiled import STAND_IN_TEXT, rows_compiled, rows_insert_compiled
from apps.humantasks.events import task_event_put
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.policy import approvals_required
from apps.humantasks.selectors import queues_managed_by
from apps.humantasks.services.locking import only_open_task_fact
from apps.humantasks.services.tasks import task_grant_in_lock

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.definitions import HumanStep
    from apps.workflows.models import WorkflowInstance
    from apps.workflows.reactions import StateChange


def tasks_sync_with_instance(change: StateChange) -> None:
    """After every transition: open tasks whose step no longer applies are cancelled;
    entering a state opens its steps."""
    instance, actor = change.instance, change.actor
    # An instance this very transaction created has no tasks yet; one whose only open task
    # was just decided (task_complete read that with its lock) has none left.
    task = change.context.task
    none_open = change.trigger == "start" or (
        task is not None
        and task.version == transactions.recall(only_open_task_fact(task))
        and not task.is_open
    )
    if not none_open:
        # (Iterating HumanTask.objects.none() instead still compiled a query: 10 % of a start.)
        open_tasks = (
            HumanTask.objects.select_for_update(of=("self",))
            .select_related("queue", "assignee")
            .filter(instance=instance, state__in=("open", "claimed"))
        )
        for task in open_tasks:
            task.instance = instance
            step = instance.human_step(task.step)
            if step is None or step.state != instance.state:
                reason = f"process moved to '{instance.state}'"
                _task_close_as_cancelled(task=task, actor=actor, reason=reason)
    if change.entered_new_state:
        for step in instance.human_steps_in(instance.state):
            _tasks_open_for_step(instance=instance, step=step, actor=actor)


def process_managed_by(instance: WorkflowInstance, user: User) -> bool:
    """A manager of one of the queues the process's steps use manages the process."""
    step_queues = {step.queue for step in instance.human_steps}
    return queues_managed_by(user=user).filter(slug__in=step_queues).exists()


def _queue_of(step: HumanStep) -> Queue:
    found = rows_compiled(
        "queue by slug", lambda: Queue.objects.filter(slug=STAND_IN_TEXT), {STAND_IN_TEXT: step.queue}
    )
    if not found:
        raise Queue.DoesNotExist(f"No queue {step.queue!r} for the step {step.name!r}.")
    return found[0]


def _tasks_open_for_step(
    *, instance: WorkflowInstance, step: HumanStep, actor: User | None
) -> list[HumanTask]:
    queue = _queue_of(step)
    count = approvals_required(step=step, instance=instance, role_id=queue.role_id)
    activation = uuid.uuid4()
    title = step.title_for(instance)
    now = timezone.now()
    tasks = []
    for slot in range(1, count + 1):
        task = HumanTask(
            instance=instance,
            process_kind=instance.kind,
            queue=queue,
            step=step.name,
            activation=activation,
            title=(f"{title} (approval {slot} of {count})" if count > 1 else title)[:300],
            priority=step.priority_for(instance),
            due_at=now + step.due_in,
            is_confidential=step.confidential,
        )
        if step.policy.only_requester and instance.requester_id:
            # The requester's own step goes straight to them, whatever their roles.
            task.assignee = instance.requester
            task.claimed_at = now
            task.assign()
        rows_insert_compiled([task])
        audit_record(
            action="task.created",
            actor=actor,
            task=task,
            instance=instance,
            to_state=task.state,
            data={
                "step": step.name,
                "queue": queue.slug,
                "slot": slot,
                "of": count,
                "policy": step.policy.describe(),
            },
        )
        task_event_put(event="task.created", task=task, actor=actor)
        if step.policy.only_requester and instance.requester_id:
            # After task.created, so the audit trail never grants access to a task it has not shown yet.
            task_grant_in_lock(task=task, user=instance.requester, actor=None)
        tasks.append(task)
    return tasks


def _task_close_as_cancelled(*, task: HumanTask, actor: User | None, reason: str) -> None:
    from_state = task.state
    task.cancel()
    task.closed_at = timezone.now()
    task.version += 1
    task.save()
    audit_record(
        action="task.cancelled",
        actor=actor,
        task=task,
        from_state=from_state,
        to_state=task.state,
        data={"reason": reason},
    )
    task_event_put(event="task.cancelled", task=task, actor=actor, reason=reason)
