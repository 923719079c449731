"""The SLA timers beat runs: escalation of overdue tasks, reminders to assignees, and the
release of stale claims. Each is a service over many tasks that acts on one task per
transaction.

Every action happens once, however many beat processes run: a task is acted on only
while its instance row is locked (SKIP LOCKED: a task another timer holds is left for
the next round), and the condition is checked again under that lock, with the markers
`escalated_at` and `reminded_at` saying it is done. Each action is audited; the people to
tell are told through the outbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.audit.services import audit_record
from apps.humantasks.events import task_audience, task_event_put
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.humantasks.services.locking import task_lock, task_save_new_version
from apps.notifications.events import event_put, queue_group, role_group, user_group

BATCH = 200


def _default(hours: float) -> Value:
    return Value(timedelta(hours=hours))


def _requester_only(task: HumanTask) -> bool:
    step = task.instance.human_step(task.step)
    return step is not None and step.policy.only_requester


def tasks_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate open tasks past their due time, once each, by their queue's SLA policy:
    raise the priority, move the task (unclaimed) to the escalation queue if the policy
    names one, and notify the queue's managers. Returns how many were escalated."""
    now = now or timezone.now()
    overdue = (
        HumanTask.objects.filter(state__in=OPEN_STATES, due_at__lt=now, escalated_at__isnull=True)
        .order_by("due_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(_escalate(task_id, now=now) for task_id in list(overdue))


def _escalate(task_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        locked = task_lock(task_id=task_id, skip_locked=True)
        if locked is None:
            return False
        task, instance = locked
        if not task.is_open or task.escalated_at is not None or task.due_at >= now:
            return False
        queue = task.queue
        boost = queue.sla_priority_boost
        boost = settings.SLA_ESCALATION_PRIORITY_BOOST if boost is None else boost
        from_state, from_priority, previous = task.state, task.priority, task.assignee
        task.priority = min(100, task.priority + boost)
        task.escalated_at = now
        target = queue.sla_escalation_queue
        moves = target is not None and target.pk != queue.pk and not _requester_only(task)
        if moves:
            task.release()
            task.queue, task.assignee, task.claimed_at = target, None, None
        task_save_new_version(task)
        details = {
            "queue": queue.slug,
            "to_queue": task.queue.slug,
            "from_priority": from_priority,
            "to_priority": task.priority,
            "overdue_since": task.due_at,
            "previous_assignee": previous.get_username() if previous and moves else None,
        }
        audit_record(
            action="task.escalated",
            actor=None,
            task=task,
            from_state=from_state,
            to_state=task.state,
            data=details,
        )
        notice = {
            "from_queue": queue.slug,
            "to_queue": task.queue.slug,
            "from_priority": from_priority,
            "to_priority": task.priority,
            "overdue_since": task.due_at.isoformat(),
            "previous_assignee": details["previous_assignee"],
        }
        managers = role_group(queue.managers_id)
        if task.is_confidential:
            # Managers are told a confidential task is late, never what it is about: one
            # notice without its row, to them and the grantees (who can reload the row).
            event_put(
                event="task.escalated",
                instance=instance,
                data={"task": task.pk, "title": "A confidential task", "confidential": True, **notice},
                groups=[*task_audience(task, previous), managers],
            )
        else:
            left = [queue_group(queue.pk)] if moves else []
            task_event_put(
                event="task.escalated",
                task=task,
                actor=None,
                also=(previous,),
                groups=[managers, *left],
                **notice,
            )
    return True


def tasks_remind_assignees(*, now: datetime | None = None) -> int:
    """Remind the assignee of each claimed task that falls due within its queue's
    reminder window, once per task. Returns how many reminders were sent."""
    now = now or timezone.now()
    window_end = ExpressionWrapper(
        Value(now) + Coalesce(F("queue__sla_remind_before"), _default(settings.SLA_REMIND_BEFORE_HOURS)),
        output_field=DateTimeField(),
    )
    due_soon = (
        HumanTask.objects.filter(
            state=HumanTask.State.CLAIMED, assignee__isnull=False, reminded_at__isnull=True, due_at__gt=now
        )
        .filter(due_at__lte=window_end)
        .order_by("due_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(_remind(task_id, now=now) for task_id in list(due_soon))


def _remind(task_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        locked = task_lock(task_id=task_id, skip_locked=True)
        if locked is None:
            return False
        task, instance = locked
        if task.state != HumanTask.State.CLAIMED or task.assignee is None or task.reminded_at is not None:
            return False
        task.reminded_at = now
        task.save(update_fields=["reminded_at"])
        assignee = task.assignee.get_username()
        audit_record(
            action="task.reminder_sent",
            actor=None,
            task=task,
            data={"assignee": assignee, "due_at": task.due_at},
        )
        task_event_put(event="task.reminder", task=task, actor=None, only=[user_group(task.assignee_id)])
    return True


def claims_release_stale(*, now: datetime | None = None) -> int:
    """Put back in their queue the claimed tasks nobody has touched for their queue's
    stale-claim period. A requester's own task (e.g. revising an order) stays theirs.
    Returns how many claims were released."""
    now = now or timezone.now()
    cutoff = ExpressionWrapper(
        Value(now) - Coalesce(F("queue__sla_stale_claim_after"), _default(settings.SLA_STALE_CLAIM_HOURS)),
        output_field=DateTimeField(),
    )
    stale = (
        HumanTask.objects.filter(state=HumanTask.State.CLAIMED, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(_release(task_id, now=now) for task_id in list(stale))


def _release(task_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        locked = task_lock(task_id=task_id, skip_locked=True)
        if locked is None:
            return False
        task, instance = locked
        stale_after = task.queue.sla_stale_claim_after or timedelta(hours=settings.SLA_STALE_CLAIM_HOURS)
        if (
            task.state != HumanTask.State.CLAIMED
            or task.updated_at >= now - stale_after
            or _requester_only(task)
        ):
            return False
        previous, untouched_since = task.assignee, task.updated_at
        task.release()
        task.assignee, task.claimed_at = None, None
        task_save_new_version(task)
        audit_record(
            action="task.claim_released",
            actor=None,
            task=task,
            from_state=HumanTask.State.CLAIMED,
            to_state=task.state,
            data={
                "previous_assignee": previous.get_username() if previous else None,
                "untouched_since": untouched_since,
                "reason": "stale claim",
            },
        )
        task_event_put(
            event="task.released",
            task=task,
            actor=None,
            also=(previous,),
            previous_assignee=previous.get_username() if previous else None,
            reason="stale claim",
        )
    return True
