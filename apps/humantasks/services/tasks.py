"""What people and systems do to a human task: claim, release, decide, reassign, delegate,
cancel, grant. Each service owns its transaction, locks the instance row and then the task
row (task_lock: always in that order, so two services never deadlock), checks access and
the step's decision policy, and writes its audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.audit.services import audit_record
from apps.core import transactions
from apps.core.errors import (
    DecisionRefused,
    InvalidDecision,
    InvalidProcessData,
    NotFound,
    NotPermitted,
    StaleVersion,
    TaskClosed,
    TaskConflict,
)
from apps.humantasks.events import task_event_put
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.policy import decision_facts_of, decision_refusal
from apps.humantasks.selectors import (
    TaskAccess,
    queues_managed_by,
    steps_completed,
    task_access,
    task_grants_of,
)
from apps.humantasks.services.locking import only_open_task_fact, task_lock, task_save_new_version
from apps.notifications.events import queue_group
from apps.workflows import services as workflow_services
from apps.workflows.transitions import TransitionContext
from apps.workflows.validation import text_is_storable, validate_process_data

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.definitions import HumanStep
    from apps.workflows.models import WorkflowInstance

MAX_COMMENT_LENGTH = 5000
MAX_REASON_LENGTH = 1000


# --- Locking and checks ---------------------------------------------------------------------------------


def _lock(
    task: HumanTask | int, *, actor: User | None, quorum: bool = False
) -> tuple[HumanTask, WorkflowInstance]:
    """task_lock, the task coming with the actor's grants and decision facts (read with the
    locked row, once, for every check below)."""
    locked = task_lock(
        task_id=task.pk if isinstance(task, HumanTask) else task, facts_for=actor, quorum=quorum
    )
    if locked is None:
        raise NotFound("No such task.")
    return locked


def _access(*, user: User, task: HumanTask) -> TaskAccess:
    """What `user` may do with the task, from the grants it was locked with when there are."""
    return task_access(user=user, task=task, grants=task_grants_of(task))


def _require_view(*, user: User, task: HumanTask, expected_version: int | None = None) -> TaskAccess:
    access = _access(user=user, task=task)
    if not access.view:
        raise NotFound("No such task.")
    # Only after the access check: a stale version would tell an outsider the task exists.
    if expected_version is not None and task.version != expected_version:
        raise StaleVersion(
            f"The task changed since you read it (version {task.version}, not {expected_version})."
        )
    return access


def _require_open(task: HumanTask) -> None:
    if not task.is_open:
        raise TaskClosed(f"This task is already {task.state}.")


def _step_of(task: HumanTask, instance: WorkflowInstance) -> HumanStep:
    step = instance.human_step(task.step)
    if step is None:
        raise TaskClosed(f"The process no longer has a '{task.step}' step.")
    return step


def _require_may_decide(
    *, user: User, task: HumanTask, instance: WorkflowInstance, access: TaskAccess
) -> HumanStep:
    """The step, if `user` (whose `access` the caller checked for view) may decide it."""
    if not access.work:
        raise NotPermitted("You may see this task but not work on it.")
    step = _step_of(task, instance)
    facts = decision_facts_of(task) if hasattr(task, "policy_holds_sibling") else None
    refusal = decision_refusal(user=user, task=task, step=step, instance=instance, facts=facts)
    if refusal:
        raise DecisionRefused(refusal, errors={"policy": step.policy.describe()})
    return step


def _require_colleague_may_decide(*, colleague: User, task: HumanTask, instance: WorkflowInstance) -> None:
    # The colleague's own grants and decisions, read here: the task was locked with the actor's.
    if not colleague.is_active or not task_access(user=colleague, task=task).work:
        raise InvalidDecision(
            f"{colleague.get_username()} does not work this task's queue.",
            errors={"to_user": ["Not in the task's role."]},
        )
    refusal = decision_refusal(user=colleague, task=task, step=_step_of(task, instance), instance=instance)
    if refusal:
        raise DecisionRefused(
            f"{colleague.get_username()} cannot decide this task. {refusal}", errors={"to_user": [refusal]}
        )


def _clean_text(value: str | None, *, field: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidDecision(f"The {field} must be text.", errors={field: ["Must be a string."]})
    if not text_is_storable(value):
        raise InvalidDecision(
            f"The {field} contains characters that cannot be stored.",
            errors={field: ["NUL characters and lone surrogates are not allowed."]},
        )
    value = value.strip()
    if len(value) > limit:
        raise InvalidDecision(f"The {field} is too long.", errors={field: [f"At most {limit} characters."]})
    if required and not value:
        raise InvalidDecision(f"A {field} is required.", errors={field: ["This field is required."]})
    return value


# --- The services people and systems call -----------------------------------------------------------------


def task_claim(*, task: HumanTask | int, actor: User, expected_version: int | None = None) -> HumanTask:
    """Take an open task. A second claimant gets TaskConflict, however close the race."""
    with transaction.atomic():
        locked, instance = _lock(task, actor=actor)
        access = _require_view(user=actor, task=locked, expected_version=expected_version)
        if locked.state == HumanTask.State.CLAIMED:
            holder = "you" if locked.assignee_id == actor.pk else "someone else"
            raise TaskConflict(f"This task is already claimed by {holder}.")
        _require_open(locked)
        _require_may_decide(user=actor, task=locked, instance=instance, access=access)
        locked.claim()
        locked.assignee = actor
        locked.claimed_at = timezone.now()
        task_save_new_version(locked)
        audit_record(
            action="task.claimed", actor=actor, task=locked, from_state="open", to_state=locked.state
        )
        task_event_put(event="task.claimed", task=locked, actor=actor)
    return locked


def task_unclaim(*, task: HumanTask | int, actor: User, expected_version: int | None = None) -> HumanTask:
    """Put a claimed task back in its queue: its assignee may, and so may the queue's managers."""
    with transaction.atomic():
        locked, _instance = _lock(task, actor=actor)
        access = _require_view(user=actor, task=locked, expected_version=expected_version)
        _require_open(locked)
        if locked.state != HumanTask.State.CLAIMED:
            raise TaskConflict("This task is not claimed.")
        if locked.assignee_id != actor.pk and not access.manage:
            raise NotPermitted("Only the assignee or a queue manager can release this task.")
        previous = locked.assignee
        locked.release()
        locked.assignee = None
        locked.claimed_at = None
        task_save_new_version(locked)
        audit_record(
            action="task.unclaimed",
            actor=actor,
            task=locked,
            from_state="claimed",
            to_state=locked.state,
            data={"previous_assignee": previous.get_username() if previous else None},
        )
        task_event_put(
            event="task.released",
            task=locked,
            actor=actor,
            also=(previous,),
            previous_assignee=previous.get_username() if previous else None,
            reason="released",
        )
    return locked


def task_complete(
    *,
    task: HumanTask | int,
    actor: User,
    outcome: str,
    data: dict[str, Any] | None = None,
    comment: str | None = "",
    expected_version: int | None = None,
) -> HumanTask:
    """Decide a task: validate the outcome and data against the step, record the decision,
    and when the step is decided (its quorum reached, or a non-approving outcome) fire the
    instance's transition, all in one transaction.

    An open task may be decided directly by someone who could claim it; a task claimed by
    someone else answers TaskConflict.
    """
    data = {} if data is None else data
    with transactions.atomic_batched():
        locked, instance = _lock(task, actor=actor, quorum=True)
        access = _require_view(user=actor, task=locked, expected_version=expected_version)
        _require_open(locked)
        if locked.state == HumanTask.State.CLAIMED and locked.assignee_id != actor.pk:
            raise TaskConflict("Someone else has claimed this task.")
        step = _require_may_decide(user=actor, task=locked, instance=instance, access=access)
        if not isinstance(outcome, str) or outcome not in step.outcomes:
            raise InvalidDecision(
                f"Outcome must be one of: {', '.join(step.outcomes)}.",
                errors={"outcome": ["Not a valid choice."]},
            )
        if not isinstance(data, dict):
            raise InvalidDecision(
                "Decision data must be an object.", errors={"data": ["Must be a JSON object."]}
            )
        comment = _clean_text(
            comment, field="comment", limit=MAX_COMMENT_LENGTH, required=outcome in step.comment_required_for
        )
        if outcome == step.approving_outcome:
            try:
                validate_process_data(step.decision_schema, data, what="decision data")
            except InvalidProcessData as error:
                raise InvalidDecision(
                    error.detail, errors={f"data.{k}": v for k, v in error.errors.items()}
                ) from None
        elif data:
            raise InvalidDecision(
                f"Outcome '{outcome}' takes no data; explain it in the comment.",
                errors={"data": ["Must be empty."]},
            )

        from_state = locked.state
        now = timezone.now()
        locked.complete()
        locked.assignee = actor
        locked.claimed_at = locked.claimed_at or now
        locked.decided_by = actor
        locked.outcome = outcome
        locked.decision_data = data
        locked.comment = comment
        locked.closed_at = now
        task_save_new_version(locked)

        # The step's N-of-M, counted with the locked row: the other tasks of the step change
        # only under the instance's lock, which this transaction holds.
        approvals = (locked.quorum_other_approvals or 0) + (outcome == step.approving_outcome)
        required = locked.quorum_size
        step_decided = outcome != step.approving_outcome or approvals >= required
        audit_record(
            action="task.completed",
            actor=actor,
            task=locked,
            from_state=from_state,
            to_state=locked.state,
            data={
                "step": step.name,
                "outcome": outcome,
                "data": data,
                "comment": comment,
                "policy": step.policy.describe(),
                "approvals": approvals,
                "approvals_required": required,
                "step_decided": step_decided,
            },
        )
        task_event_put(
            event="task.completed", task=locked, actor=actor, outcome=outcome, step_decided=step_decided
        )
        if not locked.others_open:
            # Read with the lock: the transition's reaction need not look for open tasks to close.
            transactions.remember(only_open_task_fact(locked), locked.version)
        if step_decided:
            workflow_services.instance_fire(
                instance=instance,
                transition=step.outcomes[outcome],
                context=TransitionContext(
                    actor=actor,
                    data=data,
                    task=locked,
                    completed_steps=lambda: steps_completed(instance=instance),
                ),
                trigger="task",
            )
    return locked


def task_reassign(
    *,
    task: HumanTask | int,
    actor: User,
    reason: str,
    to_user: User | None = None,
    to_queue: Queue | None = None,
    expected_version: int | None = None,
) -> HumanTask:
    """A queue manager moves a task to a person (who must be able to decide it) or to
    another queue (where it waits unclaimed)."""
    if (to_user is None) == (to_queue is None):
        raise InvalidDecision("Reassign to a person or to a queue, not both or neither.")
    reason = _clean_text(reason, field="reason", limit=MAX_REASON_LENGTH, required=True)
    with transaction.atomic():
        locked, instance = _lock(task, actor=actor)
        access = _require_view(user=actor, task=locked, expected_version=expected_version)
        if not access.manage:
            raise NotPermitted("Only a manager of this task's queue can reassign it.")
        _require_open(locked)
        from_state, from_queue = locked.state, locked.queue
        previous = locked.assignee
        if to_user is not None:
            _require_colleague_may_decide(colleague=to_user, task=locked, instance=instance)
            locked.assign()
            locked.assignee = to_user
            locked.claimed_at = timezone.now()
        else:
            if to_queue.pk == locked.queue_id:
                raise InvalidDecision("The task is already in that queue.", errors={"queue": ["Same queue."]})
            # A manager hands work only to queues they manage too: otherwise the task would
            # vanish from their sight into a queue they have no say over.
            if not queues_managed_by(user=actor).filter(pk=to_queue.pk).exists():
                raise NotPermitted(
                    f"You do not manage the queue {to_queue.name!r}.",
                    errors={"queue": ["Not a queue you manage."]},
                )
            locked.release()
            locked.queue = to_queue
            locked.assignee = None
            locked.claimed_at = None
        task_save_new_version(locked)
        audit_record(
            action="task.reassigned",
            actor=actor,
            task=locked,
            from_state=from_state,
            to_state=locked.state,
            data={
                "reason": reason,
                "from_queue": from_queue.slug,
                "to_queue": locked.queue.slug,
                "from_assignee": previous.get_username() if previous else None,
                "to_assignee": to_user.get_username() if to_user else None,
            },
        )
        task_event_put(
            event="task.reassigned",
            task=locked,
            actor=actor,
            also=(previous,),
            # The queue it left hears of it too, so the row leaves its members' inboxes.
            groups=[queue_group(from_queue.pk)] if not locked.is_confidential else [],
            from_queue=from_queue.slug,
            from_assignee=previous.get_username() if previous else None,
            to_assignee=to_user.get_username() if to_user else None,
            reason=reason,
        )
    return locked


def task_delegate(
    *,
    task: HumanTask | int,
    actor: User,
    to_user: User,
    reason: str = "",
    expected_version: int | None = None,
) -> HumanTask:
    """The assignee hands their task to a colleague who could decide it too."""
    reason = _clean_text(reason, field="reason", limit=MAX_REASON_LENGTH)
    with transaction.atomic():
        locked, instance = _lock(task, actor=actor)
        _require_view(user=actor, task=locked, expected_version=expected_version)
        _require_open(locked)
        if locked.state != HumanTask.State.CLAIMED or locked.assignee_id != actor.pk:
            raise NotPermitted("Only the task's assignee can delegate it; claim it first.")
        if to_user.pk == actor.pk:
            raise InvalidDecision("You already hold this task.", errors={"to_user": ["Choose a colleague."]})
        _require_colleague_may_decide(colleague=to_user, task=locked, instance=instance)
        locked.assign()
        locked.assignee = to_user
        locked.claimed_at = timezone.now()
        task_save_new_version(locked)
        audit_record(
            action="task.delegated",
            actor=actor,
            task=locked,
            from_state="claimed",
            to_state=locked.state,
            data={"reason": reason, "to_assignee": to_user.get_username()},
        )
        task_event_put(
            event="task.delegated",
            task=locked,
            actor=actor,
            also=(actor,),
            from_assignee=actor.get_username(),
            to_assignee=to_user.get_username(),
            reason=reason,
        )
    return locked


def task_cancel(
    *, task: HumanTask | int, actor: User, reason: str, expected_version: int | None = None
) -> HumanTask:
    """A queue manager cancels the work a task stands for: the instance's `cancel`
    transition runs, which closes every open task of the instance. (A lone task cannot
    be cancelled without its process, or the process would wait for it for ever.)
    """
    reason = _clean_text(reason, field="reason", limit=MAX_REASON_LENGTH, required=True)
    with transaction.atomic():
        locked, instance = _lock(task, actor=actor)
        access = _require_view(user=actor, task=locked, expected_version=expected_version)
        if not access.manage:
            raise NotPermitted("Only a manager of this task's queue can cancel it.")
        _require_open(locked)
        workflow_services.instance_fire(
            instance=instance,
            transition="cancel",
            context=TransitionContext(actor=actor, data={"reason": reason}, task=locked),
            trigger="external",
        )
        locked.refresh_from_db()
    return locked


MAX_PRIORITY = 100


def _require_manager_of_open(
    *, task: HumanTask | int, actor: User, expected_version: int | None, what: str
) -> HumanTask:
    locked, _instance = _lock(task, actor=actor)
    access = _require_view(user=actor, task=locked, expected_version=expected_version)
    if not access.manage:
        raise NotPermitted(f"Only a manager of this task's queue can change its {what}.")
    _require_open(locked)
    return locked


def task_priority_change(
    *, task: HumanTask | int, actor: User, priority: int, reason: str, expected_version: int | None = None
) -> HumanTask:
    """A queue manager makes a task more or less urgent (0-100, higher first), saying why."""
    if type(priority) is not int or not 0 <= priority <= MAX_PRIORITY:
        raise InvalidDecision(
            f"Priority must be a whole number from 0 to {MAX_PRIORITY}.",
            errors={"priority": [f"A whole number from 0 to {MAX_PRIORITY}."]},
        )
    reason = _clean_text(reason, field="reason", limit=MAX_REASON_LENGTH, required=True)
    with transaction.atomic():
        locked = _require_manager_of_open(
            task=task, actor=actor, expected_version=expected_version, what="priority"
        )
        previous = locked.priority
        if previous == priority:
            raise InvalidDecision(
                f"The task's priority is already {priority}.", errors={"priority": ["Unchanged."]}
            )
        locked.priority = priority
        task_save_new_version(locked)
        audit_record(
            action="task.priority_changed",
            actor=actor,
            task=locked,
            data={"reason": reason, "from_priority": previous, "to_priority": priority},
        )
    return locked


def task_due_change(
    *,
    task: HumanTask | int,
    actor: User,
    due_at: datetime,
    reason: str,
    expected_version: int | None = None,
) -> HumanTask:
    """A queue manager moves a task's due time, saying why. A due time in the past is allowed
    (it makes the task overdue at once, which is sometimes the point); a naive one is not."""
    if not isinstance(due_at, datetime) or timezone.is_naive(due_at):
        raise InvalidDecision(
            "The due time needs a date, a time and a time zone.", errors={"due_at": ["Not a valid time."]}
        )
    reason = _clean_text(reason, field="reason", limit=MAX_REASON_LENGTH, required=True)
    with transaction.atomic():
        locked = _require_manager_of_open(
            task=task, actor=actor, expected_version=expected_version, what="due time"
        )
        previous = locked.due_at
        locked.due_at = due_at
        # A new due time is a new deadline: the SLA timers may remind and escalate again.
        locked.reminded_at = None
        locked.escalated_at = None
        task_save_new_version(locked)
        audit_record(
            action="task.due_changed",
            actor=actor,
            task=locked,
            data={"reason": reason, "from_due_at": previous.isoformat(), "to_due_at": due_at.isoformat()},
        )
    return locked


def task_grant(*, task: HumanTask, user: User, actor: User | None, can_work: bool = True) -> None:
    """Open one task to one person (e.g. a confidential task seen by two people only)."""
    with transaction.atomic():
        # Lock like every task service (instance, then task) before appending to the instance's
        # audit chain. Unlocked, a grant holding the chain's lock waited at commit (its foreign
        # keys) for the task row a concurrent claim held while waiting for the chain: a deadlock.
        locked, _instance = _lock(task, actor=None)
        task_grant_in_lock(task=locked, user=user, actor=actor, can_work=can_work)


def task_grant_in_lock(*, task: HumanTask, user: User, actor: User | None, can_work: bool = True) -> None:
    """task_grant for a caller that already holds the instance and task locks."""
    assign_perm("humantasks.view_humantask", user, task)
    if can_work:
        assign_perm("humantasks.work_humantask", user, task)
    audit_record(
        action="task.access_granted",
        actor=actor,
        task=task,
        data={"user": user.get_username(), "work": can_work},
    )
    task_event_put(
        event="task.access_granted",
        task=task,
        actor=actor,
        also=(user,),
        user=user.get_username(),
        work=can_work,
    )
