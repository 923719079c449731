"""Writes of the auditors' workspace: asking for a verification of the audit log, and running it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.selectors import VIEW_AUDIT, audit_chain_first_break
from apps.audit.services import audit_record
from apps.core.errors import NotPermitted
from apps.notifications.services import outbox_put
from apps.oversight.models import ChainVerification

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger(__name__)

VERIFICATION_TOPIC = "oversight.chain_verification"
VERIFICATIONS_CHAIN = "audit:verifications"
# Progress is written after this many events: a few hundred updates at a million events.
PROGRESS_EVERY = 2000
# A run unfinished this long after it was asked for no longer stops a new one.
STALE_AFTER = timedelta(hours=1)


def chain_verification_request(*, actor: User) -> ChainVerification:
    """Queue a check of every audit hash chain for a worker; return the run to watch.

    While a run is queued or running, asking again returns that run rather than a second one,
    unless it was asked for over STALE_AFTER ago (its worker may have died with it).
    The job leaves through the outbox after commit, so a broker that is down delays it, and
    loses nothing.
    """
    if not actor.is_active or not actor.has_perm(VIEW_AUDIT):
        raise NotPermitted("Only auditors may verify the audit log.")
    with transaction.atomic():
        unfinished = (
            ChainVerification.objects.select_for_update()
            .filter(
                status__in=(ChainVerification.Status.QUEUED, ChainVerification.Status.RUNNING),
                requested_at__gte=timezone.now() - STALE_AFTER,
            )
            .order_by("-id")
            .first()
        )
        if unfinished is not None:
            return unfinished
        verification = ChainVerification.objects.create(requested_by=actor, requested_at=timezone.now())
        audit_record(
            action="audit.verification_requested",
            actor=actor,
            chain_key=VERIFICATIONS_CHAIN,
            data={"verification": verification.pk},
        )
        outbox_put(topic=VERIFICATION_TOPIC, payload={"verification_id": verification.pk})
    return verification


def chain_verification_run(*, verification_id: int) -> ChainVerification:
    """Walk every chain (the same check as `manage.py verify_audit`), writing progress to the
    run's row, then record the outcome on the run and as an audit event of its own.

    A run that is no longer queued (a redelivered job) is returned untouched.
    """
    with transaction.atomic():
        verification = ChainVerification.objects.select_for_update().get(pk=verification_id)
        if verification.status != ChainVerification.Status.QUEUED:
            return verification
        newest = AuditEvent.objects.order_by("-id").only("id", "occurred_at").first()
        verification.status = ChainVerification.Status.RUNNING
        verification.started_at = timezone.now()
        verification.total = AuditEvent.objects.count()
        verification.newest_event_id = newest.pk if newest else None
        verification.newest_event_at = newest.occurred_at if newest else None
        verification.save()

    def progress(checked: int) -> None:
        # Its own autocommitted UPDATE, so the polling page sees it at once.
        ChainVerification.objects.filter(pk=verification_id).update(checked=checked)

    try:
        checked, broken = audit_chain_first_break(chunk_size=PROGRESS_EVERY, on_progress=progress)
    except Exception:
        logger.exception("audit verification %s could not finish", verification_id)
        ChainVerification.objects.filter(pk=verification_id).update(
            status=ChainVerification.Status.FAILED, finished_at=timezone.now()
        )
        raise

    with transaction.atomic():
        verification = ChainVerification.objects.select_for_update().get(pk=verification_id)
        verification.checked = checked
        verification.finished_at = timezone.now()
        outcome = {
            "verification": verification.pk,
            "requested_by": verification.requested_by.get_username(),
            "checked": checked,
            "newest_event": verification.newest_event_id,
        }
        if broken is None:
            verification.status = ChainVerification.Status.PASSED
            action = "audit.chain_verified"
        else:
            verification.status = ChainVerification.Status.BROKEN
            verification.broken_event_id = broken.event_id
            verification.broken_chain_key = broken.chain_key
            verification.broken_seq = broken.seq
            verification.broken_reason = broken.reason[:200]
            action = "audit.chain_broken"
            outcome |= {
                "broken_event": broken.event_id,
                "chain_key": broken.chain_key,
                "seq": broken.seq,
                "reason": broken.reason,
            }
        verification.save()
        audit_record(action=action, actor=None, chain_key=VERIFICATIONS_CHAIN, data=outcome)
    return verification
