"""Who may fire the external transitions that every process kind shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.workflows.reactions import is_process_manager

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance


def may_cancel(instance: WorkflowInstance, user: User) -> bool:
    """The requester, whoever started it, or a manager of one of the process's queues."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.pk in (instance.requester_id, instance.started_by_id):
        return True
    return is_process_manager(instance, user)
