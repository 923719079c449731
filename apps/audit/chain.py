"""The hash that links an audit event to its predecessor. One definition, used to write and to verify.

It is an HMAC keyed with settings.AUDIT_HASH_KEY, which lives outside the database: someone
who can switch the append-only trigger off still cannot recompute a chain after editing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings


def event_hash(
    *,
    chain_key: str,
    seq: int,
    occurred_at: str,
    actor_id: int | None,
    actor_type: str,
    actor_label: str,
    action: str,
    instance_id: int | None,
    task_id: int | None,
    from_state: str,
    to_state: str,
    data: Any,
    request_id: str,
    source_ip: str | None,
    prev_hash: str,
) -> str:
    return keyed_digest(
        {
            "chain_key": chain_key,
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_type": actor_type,
            "actor_label": actor_label,
            "action": action,
            "instance_id": instance_id,
            "task_id": task_id,
            "from_state": from_state,
            "to_state": to_state,
            "data": data,
            "request_id": request_id,
            "source_ip": source_ip,
            "prev_hash": prev_hash,
        }
    )


def keyed_digest(document: Any) -> str:
    """HMAC-SHA-256 of a document's canonical JSON, keyed by AUDIT_HASH_KEY."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(settings.AUDIT_HASH_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def hash_of(event: Any) -> str:
    """The hash an AuditEvent row should carry, recomputed from its stored fields."""
    return event_hash(
        chain_key=event.chain_key,
        seq=event.seq,
        occurred_at=event.occurred_at.isoformat(),
        actor_id=event.actor_id,
        actor_type=event.actor_type,
        actor_label=event.actor_label,
        action=event.action,
        instance_id=event.instance_id,
        task_id=event.task_id,
        from_state=event.from_state,
        to_state=event.to_state,
        data=event.data,
        request_id=event.request_id,
        source_ip=event.source_ip,
        prev_hash=event.prev_hash,
    )
