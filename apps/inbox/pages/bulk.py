"""The pages' bulk actions: one form's action applied to each ticked task through the shared
per-item loop (apps.humantasks.services.bulk.tasks_bulk_apply), each item answered in plain
words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.core.errors import DomainError, InvalidDecision, NotFound, TaskClosed
from apps.humantasks import services as task_services
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import tasks_visible_to
from apps.humantasks.services.bulk import tasks_bulk_apply
from apps.inbox.pages import forms as bulk_forms
from apps.inbox.wording import state_label
from apps.workflows.registry import as_definition

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass(frozen=True)
class BulkRow:
    """One ticked task's result, as the results list shows it."""

    task_id: int
    title: str | None
    done: bool
    message: str


def _approve(*, task: HumanTask, actor: User) -> HumanTask:
    instance = as_definition(task.instance)
    step = instance.human_step(task.step)
    if step is None:
        raise TaskClosed("The process no longer has this step.")
    if step.takes_data:
        raise InvalidDecision("This step needs details with its decision: open the task to decide it.")
    return task_services.task_complete(task=task.pk, actor=actor, outcome=step.approving_outcome)


def _done_message(action: str, task: HumanTask, actor: User) -> str:
    if action == bulk_forms.APPROVE:
        instance = as_definition(task.instance)
        return f"Approved. The process is now: {state_label(instance.kind, instance.state)}."
    if action == bulk_forms.CLAIM:
        return "Claimed by you."
    if action == bulk_forms.RELEASE:
        return "Back in its queue."
    if action in (bulk_forms.REASSIGN, bulk_forms.DELEGATE):
        holder = task.assignee.get_full_name() or task.assignee.get_username()
        return f"Now held by {holder}."
    if action == bulk_forms.REASSIGN_QUEUE:
        return f"Moved to {task.queue.name}."
    if action == bulk_forms.CANCEL:
        return "The process was cancelled."
    if action == bulk_forms.PRIORITY:
        return f"Priority is now {task.priority}."
    return "Due time changed."


def bulk_run(*, user: User, data: dict[str, Any]) -> list[BulkRow]:
    """Apply a valid BulkActionForm's action to each of its tasks; one row per task, in the
    order they were ticked. Tasks `user` may not see are "not found", nothing more."""
    action, ids = data["action"], data["task"]
    visible = {
        task.pk: task
        for task in tasks_visible_to(user=user).filter(pk__in=ids).select_related("instance", "queue")
    }  # one query: titles, and the step to approve under

    def act(task_id: int) -> HumanTask:
        task = visible.get(task_id)
        if task is None:
            raise NotFound("No such task.")
        if action == bulk_forms.CLAIM:
            return task_services.task_claim(task=task_id, actor=user)
        if action == bulk_forms.RELEASE:
            return task_services.task_unclaim(task=task_id, actor=user)
        if action == bulk_forms.APPROVE:
            return _approve(task=task, actor=user)
        if action == bulk_forms.REASSIGN:
            return task_services.task_reassign(
                task=task_id, actor=user, reason=data["reason"], to_user=data["to_user"]
            )
        if action == bulk_forms.REASSIGN_QUEUE:
            return task_services.task_reassign(
                task=task_id, actor=user, reason=data["reason"], to_queue=data["to_queue"]
            )
        if action == bulk_forms.DELEGATE:
            return task_services.task_delegate(
                task=task_id, actor=user, to_user=data["to_user"], reason=data["reason"]
            )
        if action == bulk_forms.CANCEL:
            return task_services.task_cancel(task=task_id, actor=user, reason=data["reason"])
        if action == bulk_forms.PRIORITY:
            return task_services.task_priority_change(
                task=task_id, actor=user, priority=data["priority"], reason=data["reason"]
            )
        return task_services.task_due_change(
            task=task_id, actor=user, due_at=data["due_at"], reason=data["reason"]
        )

    results = tasks_bulk_apply(items=ids, task_of=lambda task_id: task_id, act=act)
    rows = []
    for result in results:
        known = visible.get(result.task_id)
        title = known.title if known else None
        if result.succeeded:
            rows.append(BulkRow(result.task_id, title, True, _done_message(action, result.task, user)))
        else:
            assert isinstance(result.error, DomainError)
            rows.append(BulkRow(result.task_id, title, False, result.explanation))
    return rows
