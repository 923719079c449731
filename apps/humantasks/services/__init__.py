"""Every write to queues and human tasks, split by job: queues (configuration), tasks (what
people and systems do to a task), reactions (how tasks follow the engine), locking (the
one lock order and version bump every writer uses).
"""

from apps.humantasks.services.queues import queue_create, queues_ensure_standard
from apps.humantasks.services.tasks import (
    MAX_COMMENT_LENGTH,
    MAX_REASON_LENGTH,
    task_cancel,
    task_claim,
    task_complete,
    task_delegate,
    task_due_change,
    task_grant,
    task_priority_change,
    task_reassign,
    task_unclaim,
)

__all__ = [
    "MAX_COMMENT_LENGTH",
    "MAX_REASON_LENGTH",
    "queue_create",
    "queues_ensure_standard",
    "task_cancel",
    "task_claim",
    "task_complete",
    "task_delegate",
    "task_due_change",
    "task_grant",
    "task_priority_change",
    "task_reassign",
    "task_unclaim",
]
