"""What the staff pages show, composed from the human-task, workflow and audit selectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apps.audit.models import AuditEvent
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.humantasks.policy import decision_refusal
from apps.humantasks.selectors import TaskAccess, history_visible_to, task_with_access_for
from apps.inbox.wording import kind_noun, outcome_done, person_name, state_label, waiting_for
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
