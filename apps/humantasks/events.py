"""Task events for the live inbox and webhooks (apps.notifications.events): what a task's
row looks like now, and who may hear of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apps.humantasks.models import HumanTask, HumanTaskGroupObjectPermission, HumanTaskUserObjectPermission
from apps.notifications.events import event_put, queue_group, role_group, user_group

if TYPE_CHECKING:
    from apps.accounts.models import User


def task_row(task: HumanTask) -> dict[str, Any]:
    """The summary an inbox needs to redraw the task's row (the caller has loaded the task's
    queue, instance and assignee, as task_lock does)."""
    assignee = task.assignee
    return {
        "task": task.pk,
        "title": task.title,
        "queue": task.queue.slug,
        "queue_id": task.queue_id,
        "instance": task.instance_id,
        "business_key": task.instance.business_key,
        "kind": task.process_kind,
        "step": task.step,
        "state": task.state,
        "priority": task.priority,
        "due_at": task.due_at.isoformat(),
        "assignee": assignee.get_username() if assignee else None,
        "assignee_name": (assignee.get_full_name() or assignee.get_username()) if assignee else None,
        "version": task.version,
        "confidential": task.is_confidential,
    }


def task_audience(task: HumanTask, *people: User | None) -> list[str]:
    """Who may hear of `task` now: its queue (unless confidential), its assignee, and
    `people` (e.g. whoever just lost it). A confidential task reaches its grantees only;
    reading them costs two queries, and only for confidential tasks."""
    users = {p.pk for p in (task.assignee, *people) if p is not None}
    if not task.is_confidential:
        return [queue_group(task.queue_id), *(user_group(pk) for pk in users)]
    granted_users = set(
        HumanTaskUserObjectPermission.objects.filter(content_object_id=task.pk).values_list(
            "user_id", flat=True
        )
    )
    granted_roles = set(
        HumanTaskGroupObjectPermission.objects.filter(content_object_id=task.pk).values_list(
            "group_id", flat=True
        )
    )
    # Only grantees: a confidential task's former holder who was never granted it hears nothing.
    return [*(user_group(pk) for pk in granted_users), *(role_group(pk) for pk in granted_roles)]


def task_event_put(
    *,
    event: str,
    task: HumanTask,
    actor: User | None,
    also: tuple[User | None, ...] = (),
    groups: list[str] | None = None,
    only: list[str] | None = None,
    **details: Any,
) -> None:
    """Announce `event` about `task` inside the current transaction (sent after commit): to
    whoever may see the task (task_audience) and `groups`, or to `only` those groups when
    the event is addressed to someone (a reminder to the task's holder)."""
    data = {**task_row(task), "actor": actor.get_username() if actor else None, **details}
    audience = only if only is not None else task_audience(task, *also) + list(groups or ())
    event_put(event=event, instance=task.instance, data=data, groups=audience)
