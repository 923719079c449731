"""The one way a human task is locked and versioned by every writer (services and timers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Subquery

from apps.audit.services import (
    audit_chain_head_is_known,
    audit_chain_head_known,
    audit_chain_head_query,
    instance_chain_key,
)
from apps.core.compiled import (
    STAND_IN_ID,
    STAND_IN_OTHER_ID,
    STAND_IN_TEXT,
    row_update_compiled,
    rows_compiled,
)
from apps.humantasks.models import HumanTask
from apps.humantasks.policy import decision_facts_annotations, quorum_annotations
from apps.humantasks.selectors import task_grants_annotations
from apps.workflows.services import instance_lock

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance


def task_lock(
    *,
    task_id: int,
    skip_locked: bool = False,
    facts_for: User | None = None,
    quorum: bool = False,
) -> tuple[HumanTask, WorkflowInstance] | None:
    """The task and its instance, locked for the rest of the transaction in the order every
    writer uses (instance, then task); None when there is no such task or, with
    `skip_locked`, when another transaction holds the instance (a timer leaves it for later).

    Two statements, whatever is asked: the instance (found by the task's id), then the task
    with its queue and assignee and what the caller will need of them, read while this
    transaction already holds the instance, so nobody can change any of it until commit:
    - the head of the instance's audit chain (the chain's next event links to it);
    - with `facts_for`, that person's grants on the task and its queue (task_grants_of)
      and what the step's decision policy asks of them (decision_facts_of);
    - with `quorum`, the step's N-of-M counts (quorum_annotations).
    """
    try:
        task_pk = int(task_id)
    except (ValueError, TypeError):
        return None
    instance = instance_lock(of_row=(HumanTask, task_pk), skip_locked=skip_locked, missing_ok=True)
    if instance is None:
        return None
    chain_key = instance_chain_key(instance.pk)
    head_wanted = not audit_chain_head_is_known(chain_key)
    facts = facts_for is not None and facts_for.is_authenticated and facts_for.is_active
    definition = type(instance) if quorum else None

    def build() -> QuerySet[HumanTask]:
        # Lock the task row only: a plain select_for_update() would lock the joined queue row
        # too, queueing every action on the queue's tasks behind one another and deadlocking
        # moves between two queues (each holds its queue and needs the other's for its foreign key).
        annotations = _lock_annotations(definition=definition, facts=facts, head=head_wanted)
        return (
            HumanTask.objects.select_for_update(of=("self",))
            .select_related("queue", "assignee")
            .annotate(**annotations)
            .filter(pk=STAND_IN_OTHER_ID)
        )

    found = rows_compiled(
        ("task-lock", definition, facts, head_wanted),
        build,
        {STAND_IN_OTHER_ID: task_pk, STAND_IN_ID: facts_for.pk if facts else None, STAND_IN_TEXT: chain_key},
    )
    if not found:
        raise HumanTask.DoesNotExist(f"No task {task_pk}.")
    task = found[0]
    task.instance = instance
    if head_wanted:
        audit_chain_head_known(
            chain_key=chain_key, seq=task.audit_head_seq or 0, hash=task.audit_head_hash or ""
        )
    return task, instance


def only_open_task_fact(task: HumanTask) -> tuple[str, int, int]:
    """The key of the fact "`task` was its instance's only open task" (remembered with the
    version it was closed at, by task_complete, which reads it with the lock)."""
    return ("only-open-task", task.instance_id, task.pk)


def _lock_annotations(
    *, definition: type[WorkflowInstance] | None, facts: bool, head: bool
) -> dict[str, Any]:
    """What task_lock asks for beside the row, with stand-ins for the person and the chain."""
    annotations: dict[str, Any] = {}
    if head:
        last = audit_chain_head_query(STAND_IN_TEXT)
        annotations["audit_head_seq"] = Subquery(last.values("seq"))
        annotations["audit_head_hash"] = Subquery(last.values("hash"))
    if facts:
        person = get_user_model()(pk=STAND_IN_ID)
        annotations.update(task_grants_annotations(user=person))
        annotations.update(decision_facts_annotations(user=person))
    if definition is not None:
        annotations.update(quorum_annotations(instance=definition))
    return annotations


# What task_save_new_version writes: every field a task service or timer changes. The rest of
# the row (its instance, step, activation, title, confidentiality) never changes after it opens.
CHANGING_FIELDS = (
    "state",
    "queue",
    "assignee",
    "claimed_at",
    "decided_by",
    "outcome",
    "decision_data",
    "comment",
    "closed_at",
    "priority",
    "due_at",
    "reminded_at",
    "escalated_at",
    "version",
    "updated_at",
)


def task_save_new_version(task: HumanTask) -> None:
    """Save a change people should see as a new version (If-Match, ETags, live updates)."""
    task.version += 1
    row_update_compiled(task, CHANGING_FIELDS)
