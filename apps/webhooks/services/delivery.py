"""Sending deliveries: one attempt at a time per delivery, retried on a schedule, never
from a request.

A delivery is due when it is pending and its `next_attempt_at` has passed. Its job is
enqueued after the fan-out commits (and again after a short retry's countdown); beat's
sweep enqueues whatever is due and has no job on the way, so a job lost with the broker, or
a worker killed mid-attempt (its lease runs out), costs a delay, not a delivery. Two jobs
for one delivery are harmless: an attempt first takes the row's lease.

Guarantees (README): at least once, with the same `webhook-id` on every attempt; in event
order per instance only for endpoints with `ordered_by_instance`.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.notifications.models import OutboxMessage
from apps.webhooks import targets
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventSeen
from apps.webhooks.signing import body_encode, secret_decrypt, signature_header

logger = logging.getLogger(__name__)

DELIVER_JOB = "apps.webhooks.jobs.webhook_deliver_job"


def deliveries_enqueue(ids: list[int], *, countdown: float = 0) -> int:
    """Hand deliveries to the broker; return how many went. A broker that is down is logged,
    not raised: the rows stay due and beat's sweep enqueues them when it is back."""
    if not ids:
        return 0
    from django.utils.module_loading import import_string

    job = import_string(DELIVER_JOB)
    sent: list[int] = []
    try:
        for delivery_id in ids:
            job.apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown or None, retry=False)
            sent.append(delivery_id)
    except Exception as error:
        logger.warning("webhook deliveries not enqueued (beat's sweep will): %s", error)
    if sent:
        WebhookDelivery.objects.filter(pk__in=sent).update(
            enqueued_for=timezone.now() + timedelta(seconds=countdown)
        )
    return len(sent)


def deliveries_sweep(*, limit: int = 500) -> int:
    """Enqueue due deliveries of enabled endpoints that have no job on the way."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOKS_REQUEUE_AFTER_SECONDS)
    due = (
        WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .filter(Q(enqueued_for__isnull=True) | Q(enqueued_for__lt=stale))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    return deliveries_enqueue(list(due))


def retry_delay(*, attempts: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None: give up.

    The schedule is WEBHOOKS_RETRY_SCHEDULE_SECONDS (about three days in all) with +/-20%
    jitter, so receivers that came back are not hit by every sender at once; a Retry-After
    longer than that is honoured up to WEBHOOKS_RETRY_AFTER_MAX_SECONDS.
    """
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE_SECONDS
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.WEBHOOKS_RETRY_AFTER_MAX_SECONDS))
    return delay


def _waits_for_earlier(delivery: WebhookDelivery) -> bool:
    """For ordered endpoints: an earlier event of the instance is still owed to this
    endpoint, or not yet fanned out at all."""
    earlier_owed = WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        instance_id=delivery.instance_id,
        event_id__lt=delivery.event_id,
        state=WebhookDelivery.State.PENDING,
    ).exists()
    if earlier_owed:
        return True
    # Events of the types it subscribes to since it exists are fanned out (seen) whatever
    # the fan-out decided; older ones and other types were never owed to it.
    endpoint = delivery.endpoint
    return (
        OutboxMessage.objects.filter(
            instance_id=delivery.instance_id,
            id__lt=delivery.event_id,
            topic__in=endpoint.event_types,
            created_at__gte=endpoint.created_at,
        )
        .filter(~Exists(WebhookEventSeen.objects.filter(event_id=OuterRef("id"))))
        .exists()
    )


def _secrets_in_force(endpoint: WebhookEndpoint) -> list[str]:
    in_force = [secret_decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        in_force.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return in_force


def delivery_attempt(*, delivery_id: int) -> str:
    """Make one attempt at a due delivery; return what happened: "succeeded", "retrying",
    "failed", or "skipped" (not due, held by another attempt, disabled, or waiting its turn)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .first()
        )
        if delivery is None or not delivery.endpoint.enabled:
            return "skipped"
        if delivery.endpoint.ordered_by_instance and delivery.instance_id and _waits_for_earlier(delivery):
            return "skipped"
        delivery.leased_until = now + timedelta(
            seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + settings.WEBHOOKS_LEASE_MARGIN_SECONDS
        )
        delivery.save(update_fields=["leased_until"])
    endpoint = delivery.endpoint
    body = body_encode(delivery.body)
    timestamp = timezone.now()
    headers = {
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(
            secrets_in_force=_secrets_in_force(endpoint),
            message_id=delivery.message_id,
            timestamp=timestamp,
            body=body,
        ),
    }
    answer = targets.post(url=endpoint.url, body=body, headers=headers)
    outcome = _attempt_record(delivery=delivery, answer=answer)
    if outcome == "succeeded" and endpoint.ordered_by_instance and delivery.instance_id:
        _next_in_order_enqueue(delivery)
    return outcome


def _attempt_record(*, delivery: WebhookDelivery, answer: targets.Answer) -> str:
    now = timezone.now()
    status = answer.status_code
    succeeded = status is not None and 200 <= status < 300
    with transaction.atomic():
        # The endpoint first, then the delivery: the order deleting an endpoint (and with it
        # its deliveries) takes, so the two never deadlock.
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        WebhookAttempt.objects.create(
            delivery=locked,
            attempted_at=now - timedelta(milliseconds=answer.latency_ms),
            status_code=status,
            latency_ms=answer.latency_ms,
            error=answer.error[:500],
            response_excerpt=answer.excerpt,
        )
        locked.attempts += 1
        locked.last_status = status
        locked.last_error = answer.error[:500]
        locked.leased_until = None
        countdown = None
        if succeeded:
            locked.state = WebhookDelivery.State.SUCCEEDED
            locked.finished_at = now
            if endpoint.failing_since is not None:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif status == 410:
            locked.state = WebhookDelivery.State.FAILED
            locked.finished_at = now
            endpoint_disable(endpoint=endpoint, reason="The receiver answered 410 Gone: it wants no more.")
        else:
            if endpoint.failing_since is None:
                endpoint.failing_since = now
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=now)
            delay = retry_delay(attempts=locked.attempts, retry_after=answer.retry_after)
            if delay is None:
                locked.state = WebhookDelivery.State.FAILED
                locked.finished_at = now
            else:
                locked.next_attempt_at = now + timedelta(seconds=delay)
                if delay <= settings.WEBHOOKS_COUNTDOWN_MAX_SECONDS:
                    countdown = delay
            failing_for = now - endpoint.failing_since
            if failing_for > timedelta(days=settings.WEBHOOKS_DISABLE_AFTER_DAYS):
                endpoint_disable(
                    endpoint=endpoint,
                    reason=f"Every delivery failed for {failing_for.days} days; last: "
                    f"{status or answer.error}"[:300],
                )
        locked.save()
        if countdown is not None:
            transaction.on_commit(lambda: deliveries_enqueue([locked.pk], countdown=countdown))
    return locked.state if locked.state != WebhookDelivery.State.PENDING else "retrying"


def _next_in_order_enqueue(delivery: WebhookDelivery) -> None:
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            instance_id=delivery.instance_id,
            state=WebhookDelivery.State.PENDING,
            event_id__gt=delivery.event_id,
        )
        .order_by("event_id")
        .values_list("id", flat=True)
        .first()
    )
    if following is not None:
        deliveries_enqueue([following])


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop sending to `endpoint` (its deliveries wait, and resume if it is enabled again);
    record why, and tell its owner by email. Runs inside the caller's transaction."""
    if not endpoint.enabled:
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:300], version=endpoint.version + 1, updated_at=timezone.now()
    )
    audit_record(
        action="webhook.endpoint_disabled",
        actor=None,
        chain_key=f"webhook-endpoint:{endpoint.pk}",
        data={"endpoint": endpoint.pk, "url": endpoint.url, "reason": reason},
    )
    logger.warning("webhook endpoint %s (%s) disabled: %s", endpoint.pk, endpoint.url, reason)
    owner = endpoint.owner
    if owner.email:
        transaction.on_commit(
            lambda: _notice_send(
                to=owner.email,
                subject="A webhook endpoint was disabled",
                text=(
                    f"The webhook endpoint {endpoint.url} (id {endpoint.pk}) no longer receives events.\n\n"
                    f"Why: {reason}\n\nFix the receiver, then enable the endpoint again "
                    f"(PATCH /api/v1/webhook-endpoints/{endpoint.pk}/ with enabled: true); the deliveries "
                    "it missed are still waiting and go out then."
                ),
            )
        )


def _notice_send(*, to: str, subject: str, text: str) -> None:
    try:
        send_mail(subject, text, None, [to])
    except Exception:
        logger.exception("the notice to %s that a webhook endpoint was disabled was not sent", to)


def deliveries_purge(*, older_than: timedelta | None = None) -> int:
    """Delete finished deliveries (with their attempts) older than the log's retention, and
    the fan-out's memory of events as old; return how many deliveries went."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.WEBHOOKS_LOG_RETENTION_DAYS))
    with transaction.atomic():
        _, per_model = (
            WebhookDelivery.objects.filter(created_at__lt=cutoff)
            .exclude(state=WebhookDelivery.State.PENDING)
            .delete()
        )
        # Never younger than the outbox's rows: the catch-up must still recognise them.
        seen_cutoff = min(cutoff, timezone.now() - timedelta(hours=settings.OUTBOX_RETENTION_HOURS + 1))
        WebhookEventSeen.objects.filter(seen_at__lt=seen_cutoff).delete()
    return per_model.get(WebhookDelivery._meta.label, 0)
