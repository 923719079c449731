"""The event catalogue: what people's browsers hear live and external systems hear by
webhook, one list for both.

An event is an outbox row (apps.notifications.models.OutboxMessage) whose topic is one of
EVENT_TYPES; its id is the event id and its payload the event's data, flat, plus
`notify_groups`: the channel-layer groups the producer chose from who may see the object
*now* (never a group a client names). Producers sit above this app (the engine, human
tasks) and call `event_put` inside the transaction of the change.

Groups:
- `user-<id>`: one person (their own tasks, what they started, what is addressed to them);
- `queue-<id>`: everyone who may work or manage a queue (its non-confidential tasks only);
- `role-<id>`: the members of a role (group), e.g. a queue's managers for an escalation.
A confidential task's events go to its grantees' user and role groups only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from apps.notifications.services import outbox_put

if TYPE_CHECKING:
    from apps.notifications.models import OutboxMessage
    from apps.workflows.models import WorkflowInstance


@dataclass(frozen=True)
class EventType:
    name: str
    summary: str
    # Keys of the payload beyond the common ones of its family (see TASK_FIELDS).
    fields: dict[str, dict[str, Any]]
    family: str = "task"


_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}

# What every task event carries: enough to redraw the task's row in an inbox.
TASK_FIELDS: dict[str, dict[str, Any]] = {
    "task": {**_INT, "description": "the task's id"},
    "title": _TEXT,
    "queue": {**_TEXT, "description": "the queue's slug"},
    "queue_id": _INT,
    "instance": {**_INT, "description": "the process instance's id"},
    "business_key": _TEXT,
    "kind": {**_TEXT, "description": "the process kind, e.g. purchase_order"},
    "step": _TEXT,
    "state": {"enum": ["open", "claimed", "completed", "cancelled"]},
    "priority": _INT,
    "due_at": _TIME,
    "assignee": {**_TEXT_OR_NULL, "description": "username of whoever holds it"},
    "assignee_name": _TEXT_OR_NULL,
    "version": _INT,
    "confidential": {"type": "boolean"},
    "actor": {**_TEXT_OR_NULL, "description": "who did it (username), null for the system"},
}
INSTANCE_FIELDS: dict[str, dict[str, Any]] = {
    "instance": _INT,
    "kind": _TEXT,
    "business_key": _TEXT,
    "transition": _TEXT,
    "from_state": _TEXT,
    "to_state": _TEXT,
    "version": _INT,
    "actor": _TEXT_OR_NULL,
}

EVENT_TYPES: dict[str, EventType] = {
    event.name: event
    for event in (
        EventType("task.created", "A task was opened in a queue (or for one person).", {}),
        EventType("task.claimed", "Someone took the task.", {}),
        EventType(
            "task.released",
            "The task went back to its queue (released by its holder or a manager, or a stale claim).",
            {"previous_assignee": _TEXT_OR_NULL, "reason": _TEXT},
        ),
        EventType(
            "task.reassigned",
            "A manager moved the task to a person or another queue.",
            {
                "from_queue": _TEXT,
                "from_assignee": _TEXT_OR_NULL,
                "to_assignee": _TEXT_OR_NULL,
                "reason": _TEXT,
            },
        ),
        EventType(
            "task.delegated",
            "The task's holder handed it to a colleague.",
            {"from_assignee": _TEXT, "to_assignee": _TEXT, "reason": _TEXT},
        ),
        EventType(
            "task.completed",
            "The task was decided.",
            {"outcome": _TEXT, "step_decided": {"type": "boolean"}},
        ),
        EventType("task.cancelled", "The task was closed without a decision.", {"reason": _TEXT}),
        EventType(
            "task.reminder",
            "The task's holder is reminded that it falls due soon.",
            {},
        ),
        EventType(
            "task.escalated",
            "The task is overdue: its priority rose and its queue's managers were told.",
            {
                "to_queue": _TEXT,
                "from_priority": _INT,
                "to_priority": _INT,
                "overdue_since": _TIME,
                "previous_assignee": _TEXT_OR_NULL,
            },
        ),
        EventType(
            "task.access_granted",
            "The task was opened to one more person (who now sees it).",
            {"user": _TEXT, "work": {"type": "boolean"}},
        ),
        EventType(
            "instance.transitioned",
            "A process instance changed state (or recorded a step's result in the same state).",
            {},
            family="instance",
        ),
    )
}


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def queue_group(queue_id: int) -> str:
    return f"queue-{queue_id}"


def role_group(group_id: int) -> str:
    return f"role-{group_id}"


def event_schema(event: EventType) -> dict[str, Any]:
    """The JSON Schema of one event type's payload (for the docs and the tests)."""
    common = TASK_FIELDS if event.family == "task" else INSTANCE_FIELDS
    properties = {**common, **event.fields, "occurred_at": _TIME}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event.name,
        "description": event.summary,
        "type": "object",
        "required": sorted(common) + ["occurred_at"],
        "properties": properties,
    }


def event_put(
    *,
    event: str,
    instance: WorkflowInstance | None,
    data: dict[str, Any],
    groups: list[str],
    occurred_at: datetime | None = None,
) -> OutboxMessage:
    """Announce `event` after the current transaction commits, to `groups`."""
    if event not in EVENT_TYPES:
        raise ValueError(f"{event!r} is not in the event catalogue")
    payload = {
        **data,
        "occurred_at": (occurred_at or timezone.now()).isoformat(),
        "notify_groups": sorted(set(groups)),
    }
    return outbox_put(topic=event, instance=instance, payload=payload)
