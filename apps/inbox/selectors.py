"""What the staff pages show, composed from the human-task, workflow and audit selectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask, InstanceAttachment, InstanceComment
from apps.humantasks.policy import decision_refusal, decision_refusals
from apps.humantasks.selectors import (
    TaskAccess,
    attachments_of_instance,
    comments_of_instance,
    history_visible_to,
    task_with_access_for,
)
from apps.inbox.models import SavedView, SavedViewDefault
from apps.workflows.definitions import HumanStep
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import as_definition

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass(frozen=True)
class TaskPage:
    task: HumanTask
    instance: WorkflowInstance
    step: HumanStep | None
    access: TaskAccess
    may_claim: bool
    may_unclaim: bool
    may_decide: bool
    # Why the reader may not decide, when the step's policy says so (four-eyes etc.).
    refusal: str | None
    history: QuerySet[AuditEvent]


def task_page_for(*, user: User, task_id: int) -> TaskPage:
    """The task and its process as `user` may see them; NotFound outside their reach."""
    task, access = task_with_access_for(user=user, task_id=task_id)
    instance = as_definition(task.instance)
    step = instance.human_step(task.step)
    held_by_other = task.state == HumanTask.State.CLAIMED and task.assignee_id != user.pk
    refusal = None
    if access.work and task.is_open and step is not None and not held_by_other:
        refusal = decision_refusal(user=user, task=task, step=step, instance=instance)
    workable = access.work and task.is_open and step is not None and refusal is None
    return TaskPage(
        task=task,
        instance=instance,
        step=step,
        access=access,
        may_claim=workable and task.state == HumanTask.State.OPEN,
        may_unclaim=task.state == HumanTask.State.CLAIMED and (task.assignee_id == user.pk or access.manage),
        may_decide=workable and not held_by_other,
        refusal=refusal,
        history=history_visible_to(user=user, instance=task.instance),
    )


def decision_data_skeleton(step: HumanStep) -> dict[str, Any]:
    """The approving outcome's required fields with empty values, to fill in on the form."""
    schema = step.decision_schema
    skeleton: dict[str, Any] = {}
    for name in schema.get("required", ()):
        spec = schema.get("properties", {}).get(name, {})
        skeleton[name] = spec["const"] if "const" in spec else ("" if spec.get("type") == "string" else None)
    return skeleton


def saved_views_for(*, user: User) -> QuerySet[SavedView]:
    """The views `user` may use: their own, and those shared with a queue whose role they
    hold (the queue's team), with owner and queue joined in."""
    if not user.is_authenticated or not user.is_active:
        return SavedView.objects.none()
    return (
        SavedView.objects.filter(Q(owner=user) | Q(shared_with__role__user=user))
        .distinct()
        .select_related("owner", "shared_with")
        .order_by("name", "id")
    )


def saved_view_default_for(*, user: User) -> SavedView | None:
    """The person's default view, if they still may use it."""
    default = SavedViewDefault.objects.filter(user=user).values_list("view_id", flat=True).first()
    if default is None:
        return None
    return saved_views_for(user=user).filter(pk=default).first()


# --- The inbox's rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """A task as one row of the list: whether the reader may act on it, and if not, why."""

    task: HumanTask
    # Why the reader may not decide this task (four-eyes, an N-of-M slot, held by another).
    refusal: str | None
    held_by_other: bool
    mine: bool


def _held_by(task: HumanTask) -> str:
    person = task.assignee
    return (person.get_full_name() or person.get_username()) if person else "someone"


def inbox_rows(*, user: User, tasks: list[HumanTask]) -> list[InboxRow]:
    """The page's tasks as rows; two queries for the refusals, whatever the page's size."""
    refusals = decision_refusals(user=user, tasks=[t for t in tasks if t.is_open])
    rows = []
    for task in tasks:
        held_by_other = task.state == HumanTask.State.CLAIMED and task.assignee_id != user.pk
        refusal = refusals.get(task.pk)
        if refusal is None and held_by_other:
            refusal = f"Claimed by {_held_by(task)}."
        rows.append(InboxRow(task, refusal, held_by_other, task.assignee_id == user.pk))
    return rows


def inbox_row_for(*, user: User, task_id: int) -> InboxRow:
    task, _access = task_with_access_for(user=user, task_id=task_id)
    return inbox_rows(user=user, tasks=[task])[0]


@dataclass(frozen=True)
class InstanceNotes:
    comments: list[InstanceComment]
    attachments: list[InstanceAttachment]


def instance_notes_for(*, instance: WorkflowInstance) -> InstanceNotes:
    """The comments and attachments of an instance the reader may see (two queries)."""
    return InstanceNotes(
        comments=list(comments_of_instance(instance=instance)),
        attachments=list(attachments_of_instance(instance=instance)),
    )
