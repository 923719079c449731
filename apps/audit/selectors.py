from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.chain import hash_of, keyed_digest
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


def audit_chain_first_break(
    *, chunk_size: int = 2000, on_progress: Callable[[int], None] | None = None
) -> tuple[int, ChainBreak | None]:
    """Walk every chain in order; return how many events were checked and the first broken one.

    `on_progress(checked)` is called after every `chunk_size` events (for a page's progress bar).
    """
    checked = 0
    chain_key: str | None = None
    expected_seq = 1
    prev_hash = ""
    for event in _events_in_chain_order(chunk_size):
        if event.chain_key != chain_key:
            chain_key, expected_seq, prev_hash = event.chain_key, 1, ""
        checked += 1
        if on_progress is not None and checked % chunk_size == 0:
            on_progress(checked)
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


# --- Checkpoints: chain heads kept outside the database ----------------------------------------------


class CheckpointInvalid(Exception):
    pass


def audit_checkpoint_create(*, chunk_size: int = 2000) -> dict[str, Any]:
    """The head (last seq and hash) of every chain, signed with AUDIT_HASH_KEY.

    The hash chain finds an edited or removed event inside a chain, but not a chain whose
    last events, or all of them, were removed. Kept somewhere the database's operators
    cannot write, a checkpoint closes that gap: `verify_audit --checkpoint FILE` checks that
    every head it names is still there, unchanged. Raises CheckpointInvalid on a broken log.
    """
    checked, broken = audit_chain_first_break(chunk_size=chunk_size)
    if broken is not None:
        raise CheckpointInvalid(f"the audit log is broken at event {broken.event_id}: {broken.reason}")
    heads: dict[str, list[Any]] = {}
    for chain_key, seq, event_hash in (
        AuditEvent.objects.order_by("chain_key", "seq")
        .values_list("chain_key", "seq", "hash")
        .iterator(chunk_size=chunk_size)
    ):
        heads[chain_key] = [seq, event_hash]
    body = {"created_at": timezone.now().isoformat(), "events": checked, "heads": heads}
    return {**body, "signature": keyed_digest(body)}


def audit_checkpoint_problem(*, checkpoint: Any, batch_size: int = 500) -> str | None:
    """Why the log no longer holds what `checkpoint` saw, or None when it does."""
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("heads"), dict):
        return "the checkpoint is not a checkpoint document"
    body = {key: checkpoint.get(key) for key in ("created_at", "events", "heads")}
    if checkpoint.get("signature") != keyed_digest(body):
        return "the checkpoint's signature does not match (altered, or made with another AUDIT_HASH_KEY)"
    heads = sorted(checkpoint["heads"].items())
    for start in range(0, len(heads), batch_size):
        batch = heads[start : start + batch_size]
        wanted = Q()
        for chain_key, (seq, _hash) in batch:
            wanted |= Q(chain_key=chain_key, seq=seq)
        found = {
            (c, s): h for c, s, h in AuditEvent.objects.filter(wanted).values_list("chain_key", "seq", "hash")
        }
        for chain_key, (seq, expected_hash) in batch:
            actual = found.get((chain_key, seq))
            if actual is None:
                return f"chain {chain_key} lost its events from seq {seq} (the checkpoint saw them)"
            if actual != expected_hash:
                return f"chain {chain_key} seq {seq} differs from the checkpoint"
    return None
