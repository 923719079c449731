"""What the staff pages show, composed from the human-task, workflow and audit selectors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent
from apps.humantasks.models import OPEN_STATES, HumanTask, InstanceAttachment, InstanceComment
from apps.humantasks.policy import decision_refusal, decision_refusals
from apps.humantasks.selectors import (
    TaskAccess,
    attachments_of_instance,
    comments_of_instance,
    history_visible_to,
    instances_taken_part_in,
    live_streams_for,
    task_with_access_for,
)
from apps.inbox.models import SavedView, SavedViewDefault
from apps.inbox.wording import kind_noun, outcome_done, person_name, state_label, waiting_for
from apps.notifications.live import live_heads
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
    # Why the reader cannot act although the task is open and theirs to see: someone else holds it.
    held_by_other: bool
    history: list[AuditEvent]
    # The decision that opened this task (e.g. the reviewer's "request changes" and its reason).
    cause: AuditEvent | None


def task_page_for(*, user: User, task_id: int) -> TaskPage:
    """The task and its process as `user` may see them; NotFound outside their reach."""
    task, access = task_with_access_for(user=user, task_id=task_id)
    instance = as_definition(task.instance)
    step = instance.human_step(task.step)
    held_by_other = task.state == HumanTask.State.CLAIMED and task.assignee_id != user.pk
    history = list(history_visible_to(user=user, instance=task.instance).select_related("actor"))
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
        held_by_other=held_by_other and not access.manage,
        history=history,
        cause=_cause_of(task, history),
    )


def _cause_of(task: HumanTask, history: list[AuditEvent]) -> AuditEvent | None:
    """The last decision before this task was opened, as far as the reader may see it."""
    opened = next(
        (i for i, event in enumerate(history) if event.action == "task.created" and event.task_id == task.pk),
        None,
    )
    if opened is None:
        return None
    return next((event for event in reversed(history[:opened]) if event.action == "task.completed"), None)


def decision_result(*, decided: HumanTask, step: HumanStep) -> str:
    """What a decision did to its process, in a sentence: "Approved. The purchase order now waits
    for finance." / "The purchase order is approved." / "Sent back to Ana Ruiz for changes."

    Reads the instance and its open tasks after the decision's commit.
    """
    instance = as_definition(WorkflowInstance.objects.select_related("requester").get(pk=decided.instance_id))
    kind, noun = instance.kind, kind_noun(instance.kind)
    done = outcome_done(kind, decided.outcome)
    still_open = list(
        HumanTask.objects.filter(instance=instance, state__in=OPEN_STATES).select_related("queue")
    )
    same_step = [task for task in still_open if task.activation == decided.activation]
    if same_step:
        more = len(same_step)
        return (
            f"{done}. This step needs {more} more approval{'s' if more > 1 else ''}; "
            f"the {noun} stays with {same_step[0].queue.name}."
        )
    if instance.is_finished:
        return f"The {noun} is {state_label(kind, instance.state).lower()}."
    steps_now = instance.human_steps_in(instance.state)
    if any(step.policy.only_requester for step in steps_now) and instance.requester_id:
        return f"Sent back to {person_name(instance.requester)} for changes."
    who = waiting_for(kind, instance.state) or _and(sorted({task.queue.name for task in still_open}))
    if who:
        return f"{done}. The {noun} now waits for {who}."
    return f"{done}. The {noun} is now in “{state_label(kind, instance.state)}”."


def _and(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def start_result(*, instance: WorkflowInstance) -> str:
    """What starting a process did: "Purchase order PO-2026-000001 sent to the team leads."."""
    kind = instance.kind
    named = f"{kind_noun(kind).capitalize()} {instance.business_key}"
    if instance.is_finished:
        return f"{named} is {state_label(kind, instance.state).lower()}."
    who = waiting_for(kind, instance.state) or _and(
        sorted(
            HumanTask.objects.filter(instance=instance, state__in=OPEN_STATES)
            .values_list("queue__name", flat=True)
            .distinct()
        )
    )
    if who:
        return f"{named} sent to {who}."
    return f"{named} started; it is now in “{state_label(kind, instance.state)}”."


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
    # Whether the row offers Claim: open, in a queue the reader works, and theirs to decide.
    may_claim: bool = False


def _held_by(task: HumanTask) -> str:
    person = task.assignee
    return (person.get_full_name() or person.get_username()) if person else "someone"


def inbox_rows(*, user: User, tasks: list[HumanTask], workable_queue_ids: set[int]) -> list[InboxRow]:
    """The page's tasks as rows; two queries for the refusals, whatever the page's size.
    `workable_queue_ids` are the queues the reader works (the page has read them)."""
    refusals = decision_refusals(user=user, tasks=[t for t in tasks if t.is_open])
    rows = []
    for task in tasks:
        held_by_other = task.state == HumanTask.State.CLAIMED and task.assignee_id != user.pk
        refusal = refusals.get(task.pk)
        if refusal is None and held_by_other:
            refusal = f"Claimed by {_held_by(task)}."
        # A confidential task is worked through its grant, not its queue: the task page offers it.
        may_claim = (
            task.state == HumanTask.State.OPEN
            and refusal is None
            and not task.is_confidential
            and task.queue_id in workable_queue_ids
        )
        rows.append(InboxRow(task, refusal, held_by_other, task.assignee_id == user.pk, may_claim))
    return rows


def inbox_row_for(*, user: User, task_id: int) -> InboxRow:
    task, access = task_with_access_for(user=user, task_id=task_id)
    return inbox_rows(user=user, tasks=[task], workable_queue_ids={task.queue_id} if access.work else set())[
        0
    ]


@dataclass(frozen=True)
class InstanceNotes:
    comments: list[InstanceComment]
    attachments: list[InstanceAttachment]
    may_add: bool


def instance_notes_for(*, user: User, instance: WorkflowInstance, access: TaskAccess) -> InstanceNotes:
    """The comments and attachments of an instance the reader may see (two queries), and
    whether they may add to them. People who work or manage the task, and the instance's
    own people, may without asking; only readers (auditors among them) cost a third query."""
    may_add = (
        access.work
        or access.manage
        or user.pk in (instance.requester_id, instance.started_by_id)
        or instances_taken_part_in(user=user, instance_id=instance.pk).exists()
    )
    return InstanceNotes(
        comments=list(comments_of_instance(instance=instance)),
        attachments=list(attachments_of_instance(instance=instance)),
        may_add=may_add,
    )


def live_cursor_for(*, user: object, visible_queue_ids: list[int] | None = None) -> str:
    """Each stream's last sequence as the page is drawn (JSON): the page's socket resumes
    from here, so nothing that happens between drawing and connecting is lost."""
    return json.dumps(live_heads(streams=live_streams_for(user=user, visible_queue_ids=visible_queue_ids)))
