from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from apps.audit import context
from apps.audit.chain import hash_of
from apps.audit.models import AuditEvent

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask
    from apps.workflows.models import WorkflowInstance


def _lock_chain(chain_key: str) -> None:
    # Two writers appending to the same chain would fork it; the unique (chain_key, seq)
    # constraint would refuse the second, but an advisory lock makes it wait instead.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [chain_key])


def audit_record(
    *,
    action: str,
    actor: User | None,
    instance: WorkflowInstance | None = None,
    task: HumanTask | None = None,
    from_state: str = "",
    to_state: str = "",
    data: dict[str, Any] | None = None,
    chain_key: str | None = None,
) -> AuditEvent:
    """Append one event to its chain. Must run inside the caller's transaction.

    The chain is the instance's when there is one (the task's instance for task events),
    otherwise `chain_key` names it (e.g. ``user:42`` for sign-ins).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    if instance is None and task is not None:
        instance = task.instance
    if instance is not None:
        chain_key = f"instance:{instance.pk}"
    if not chain_key:
        raise ValueError("an audit event needs an instance, a task or a chain_key")

    ctx = context.current()
    if actor is None:
        actor_type, actor_label = AuditEvent.ActorType.SYSTEM, "system"
    else:
        actor_type, actor_label = ctx.actor_type, actor.get_username()
    # Store exactly what reading the row back will give, so the hash verifies later.
    normalized = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))

    _lock_chain(chain_key)
    last = AuditEvent.objects.filter(chain_key=chain_key).order_by("-seq").only("seq", "hash").first()
    event = AuditEvent(
        chain_key=chain_key,
        seq=(last.seq + 1) if last else 1,
        occurred_at=timezone.now(),
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        action=action,
        instance=instance,
        task=task,
        from_state=from_state,
        to_state=to_state,
        data=normalized,
        request_id=ctx.request_id,
        source_ip=ctx.source_ip,
        prev_hash=last.hash if last else "",
    )
    event.hash = hash_of(event)
    event.save(force_insert=True)
    return event
