from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet

from apps.audit.chain import hash_of
from apps.audit.models import AuditEvent

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance

VIEW_AUDIT = "audit.view_auditevent"


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    chain_key: str
    seq: int
    reason: str


def audit_chain_first_break(*, chunk_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk every chain in order; return how many events were checked and the first broken one."""
    checked = 0
    chain_key: str | None = None
    expected_seq = 1
    prev_hash = ""
    for event in _events_in_chain_order(chunk_size):
        if event.chain_key != chain_key:
            chain_key, expected_seq, prev_hash = event.chain_key, 1, ""
        checked += 1
        if event.seq != expected_seq:
            return checked, ChainBreak(event.pk, event.chain_key, event.seq, f"expected seq {expected_seq}")
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(
                event.pk, event.chain_key, event.seq, "prev_hash does not match predecessor"
            )
        if hash_of(event) != event.hash:
            return checked, ChainBreak(
                event.pk, event.chain_key, event.seq, "content does not match its hash"
            )
        expected_seq += 1
        prev_hash = event.hash
    return checked, None


def _events_in_chain_order(chunk_size: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("chain_key", "seq").iterator(chunk_size=chunk_size)


# --- Reading and exporting events ------------------------------------------------------------------


def audit_events_of_instance(*, instance: WorkflowInstance) -> QuerySet[AuditEvent]:
    """An instance's history, in the order it happened (its chain order)."""
    return AuditEvent.objects.filter(instance=instance).order_by("seq")


@dataclass(frozen=True)
class AuditFilters:
    instance_id: int | None = None
    task_id: int | None = None
    actor: str = ""  # username, as recorded at the time
    actor_type: str = ""
    actions: tuple[str, ...] = ()
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.instance_id is not None:
            q &= Q(instance_id=self.instance_id)
        if self.task_id is not None:
            q &= Q(task_id=self.task_id)
        if self.actor:
            q &= Q(actor_label=self.actor)
        if self.actor_type:
            q &= Q(actor_type=self.actor_type)
        if self.actions:
            q &= Q(action__in=self.actions)
        if self.occurred_after is not None:
            q &= Q(occurred_at__gte=self.occurred_after)
        if self.occurred_before is not None:
            q &= Q(occurred_at__lt=self.occurred_before)
        return q


def audit_event_list(*, user: User, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """Events matching `filters`, oldest first; nothing for users without the auditors' permission."""
    if not user.is_active or not user.has_perm(VIEW_AUDIT):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter((filters or AuditFilters()).q()).order_by("id")


EXPORT_FIELDS = (
    "id",
    "chain_key",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_label",
    "action",
    "instance_id",
    "task_id",
    "from_state",
    "to_state",
    "data",
    "request_id",
    "source_ip",
    "prev_hash",
    "hash",
)


def _export_rows(events: QuerySet[AuditEvent], chunk_size: int) -> Iterator[dict[str, Any]]:
    # .values().iterator(): a server-side cursor on PostgreSQL, so memory stays flat for any number of rows.
    for row in events.values(*EXPORT_FIELDS).iterator(chunk_size=chunk_size):
        row["occurred_at"] = row["occurred_at"].isoformat()
        yield row


class _Line:
    """csv.writer writes into this and we hand each line on instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def audit_events_as_csv(events: QuerySet[AuditEvent], *, chunk_size: int = 2000) -> Iterable[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_FIELDS)
    for row in _export_rows(events, chunk_size):
        row["data"] = json.dumps(row["data"], cls=DjangoJSONEncoder, sort_keys=True)
        yield writer.writerow([row[name] if row[name] is not None else "" for name in EXPORT_FIELDS])


def audit_events_as_json_lines(events: QuerySet[AuditEvent], *, chunk_size: int = 2000) -> Iterable[str]:
    for row in _export_rows(events, chunk_size):
        yield json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True) + "\n"
