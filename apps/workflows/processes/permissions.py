"""Who may fire the external transitions that every process kind shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance


def may_cancel(instance: WorkflowInstance, user: User) -> bool:
    """The requester, whoever started it, or a manager of one of the process's queues."""
    from apps.humantasks.selectors import queues_managed_by

    if not user.is_authenticated or not user.is_active:
        return False
    if user.pk in (instance.requester_id, instance.started_by_id):
        return True
    step_queues = {step.queue for step in instance.human_steps}
    return queues_managed_by(user=user).filter(slug__in=step_queues).exists()
