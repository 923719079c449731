from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit import context
from apps.audit.chain import hash_of
from apps.audit.models import AuditEvent
from apps.core import transactions

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask
    from apps.workflows.models import WorkflowInstance


def instance_chain_key(instance_id: int) -> str:
    return f"instance:{instance_id}"


def _lock_chain(chain_key: str) -> None:
    # Two writers appending to the same chain would fork it; the unique (chain_key, seq)
    # constraint would refuse the second, but an advisory lock makes it wait instead.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [chain_key])


def _head_fact(chain_key: str) -> tuple[str, str]:
    return ("audit-chain-head", chain_key)


def audit_chain_head_known(*, chain_key: str, seq: int, hash: str) -> None:
    """Tell the audit log the head of a chain this transaction holds, read by the caller
    with its own statement (task_lock reads it with the task row). Only for a chain whose
    writers the caller has locked out until its transaction ends."""
    transactions.remember(_head_fact(chain_key), (seq, hash))


def audit_chain_head_is_known(chain_key: str) -> bool:
    return transactions.is_remembered(_head_fact(chain_key))


def audit_chain_head_query(chain_key: str) -> QuerySet[AuditEvent]:
    """The chain's last event, for a caller that reads the head together with other rows."""
    return AuditEvent.objects.filter(chain_key=chain_key).order_by("-seq")[:1]


def _chain_head(*, chain_key: str, instance: WorkflowInstance | None) -> tuple[int, str]:
    """(seq, hash) of the chain's last event, read once per transaction: from then on this
    transaction is the chain's only writer, and remembers each event it appends."""
    known = transactions.recall(_head_fact(chain_key))
    if known is not None:
        return known
    if instance is not None:
        # An instance's chain is serialised by the instance's row lock, which every writer of
        # its rows takes first (instance_lock); no second lock is needed, and none is taken
        # in an order that could deadlock against it.
        if not transactions.row_is_held(instance):
            raise RuntimeError(
                "an instance's audit events are written while its row is locked (instance_lock)"
            )
    else:
        _lock_chain(chain_key)
    last = audit_chain_head_query(chain_key).values_list("seq", "hash").first()
    return last if last else (0, "")


@dataclass(frozen=True)
class AuditEntry:
    """One event for audit_record_all; the same fields as audit_record's arguments."""

    action: str
    actor: User | None
    instance: WorkflowInstance | None = None
    task: HumanTask | None = None
    from_state: str = ""
    to_state: str = ""
    data: dict[str, Any] | None = None
    chain_key: str | None = None


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
    otherwise `chain_key` names it (e.g. ``user:42`` for sign-ins). An instance's events are
    written while its row is locked (or was created) in the same transaction.
    """
    entry = AuditEntry(
        action=action,
        actor=actor,
        instance=instance,
        task=task,
        from_state=from_state,
        to_state=to_state,
        data=data,
        chain_key=chain_key,
    )
    return audit_record_all([entry])[0]


def audit_record_all(entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append events in order, in one INSERT; they may belong to different chains."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    ctx = context.current()
    heads: dict[str, tuple[int, str]] = {}
    events = []
    for entry in entries:
        instance = entry.instance
        if instance is None and entry.task is not None:
            instance = entry.task.instance
        chain_key = instance_chain_key(instance.pk) if instance is not None else entry.chain_key
        if not chain_key:
            raise ValueError("an audit event needs an instance, a task or a chain_key")
        actor = entry.actor
        if actor is None:
            actor_type, actor_label = AuditEvent.ActorType.SYSTEM, "system"
        else:
            actor_type, actor_label = ctx.actor_type, actor.get_username()
        # Store exactly what reading the row back will give, so the hash verifies later.
        normalized = json.loads(json.dumps(entry.data or {}, cls=DjangoJSONEncoder))
        seq, prev_hash = heads.get(chain_key) or _chain_head(chain_key=chain_key, instance=instance)
        event = AuditEvent(
            chain_key=chain_key,
            seq=seq + 1,
            occurred_at=timezone.now(),
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            action=entry.action,
            instance=instance,
            task=entry.task,
            from_state=entry.from_state,
            to_state=entry.to_state,
            data=normalized,
            request_id=ctx.request_id,
            source_ip=ctx.source_ip,
            prev_hash=prev_hash,
        )
        event.hash = hash_of(event)
        heads[chain_key] = (event.seq, event.hash)
        events.append(event)
    transactions.rows_insert(events)
    for chain_key, (seq, hash) in heads.items():
        audit_chain_head_known(chain_key=chain_key, seq=seq, hash=hash)
    return events
