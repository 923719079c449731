"""The API's own writes: idempotency records. Business writes go through the domain services."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.api.models import IdempotencyRecord

if TYPE_CHECKING:
    from apps.accounts.models import User


def idempotency_record_lock(
    *, user: User, key: str, fingerprint: str, method: str, path: str
) -> IdempotencyRecord:
    """The (user, key) record, created if new, locked for the rest of the caller's transaction.

    A concurrent request with the same key blocks on the unique index until the first one
    commits, then finds its answer. A record older than API_IDEMPOTENCY_TTL_HOURS is
    forgotten and the key starts afresh.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("idempotency_record_lock must run inside the request's transaction")
    IdempotencyRecord.objects.bulk_create(
        [IdempotencyRecord(user=user, key=key, fingerprint=fingerprint, method=method, path=path)],
        ignore_conflicts=True,
    )
    record = IdempotencyRecord.objects.select_for_update().get(user=user, key=key)
    expired = record.created_at < timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    if expired:
        record.fingerprint, record.method, record.path = fingerprint, method, path
        record.response_status, record.response_body, record.response_headers = None, None, {}
        record.created_at = timezone.now()
        record.save()
    return record


def idempotency_record_answer(
    *, record: IdempotencyRecord, status: int, body: Any, headers: dict[str, str]
) -> IdempotencyRecord:
    """Store the answer a retry will get. Runs in the same transaction as the request's work."""
    record.response_status = status
    # jsonb cannot hold U+0000, which an error detail may echo from a path; store it as U+FFFD.
    record.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder).replace("\\u0000", "\\ufffd"))
    record.response_headers = headers
    record.save(update_fields=["response_status", "response_body", "response_headers"])
    return record


def idempotency_records_purge(*, older_than_hours: int | None = None) -> int:
    """Forget answers older than the TTL (their keys could not be replayed anyway); returns how many."""
    hours = settings.API_IDEMPOTENCY_TTL_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    with transaction.atomic():
        deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
