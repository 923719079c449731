"""What the staff pages show, composed from the human-task, workflow and audit selectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.humantasks.policy import decision_refusal
from apps.humantasks.selectors import TaskAccess, history_visible_to, task_with_access_for
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
    history: tuple[AuditEvent, ...]


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
        history=tuple(history_visible_to(user=user, instance=task.instance)),
    )


def decision_data_skeleton(step: HumanStep) -> dict[str, Any]:
    """The approving outcome's required fields with empty values, to fill in on the form."""
    schema = step.decision_schema
    skeleton: dict[str, Any] = {}
    for name in schema.get("required", ()):
        spec = schema.get("properties", {}).get(name, {})
        skeleton[name] = spec["const"] if "const" in spec else ("" if spec.get("type") == "string" else None)
    return skeleton
