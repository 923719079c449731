from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from apps.audit.chain import hash_of
from apps.audit.models import AuditEvent


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
            return checked, ChainBreak(event.pk, event.chain_key, event.seq, "prev_hash does not match predecessor")
        if hash_of(event) != event.hash:
            return checked, ChainBreak(event.pk, event.chain_key, event.seq, "content does not match its hash")
        expected_seq += 1
        prev_hash = event.hash
    return checked, None


def _events_in_chain_order(chunk_size: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("chain_key", "seq").iterator(chunk_size=chunk_size)
