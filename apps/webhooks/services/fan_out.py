"""From a catalogue event to the deliveries it owes: one per enabled endpoint that
subscribes to its type and kind and whose owner may see the object *now*.

Called by the notifications app's sink registry (apps.notifications.sinks) when the event's
job runs, and by beat's catch-up for events whose job was lost with the broker. Both may see
an event more than once; WebhookEventSeen makes the second time a no-op.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.compiled import rows_compiled
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import instances_visible_to, task_access
from apps.notifications.events import EVENT_TYPES
from apps.notifications.models import OutboxMessage
from apps.notifications.sinks import Event
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEventSeen
from apps.webhooks.services.endpoints import message_id_new

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger(__name__)

# Keys of an event's payload meant for the channel layer, not for receivers.
INTERNAL_KEYS = ("notify_groups",)


def event_body(event: Event) -> dict[str, Any]:
    """The Standard Webhooks payload: {"type", "timestamp", "data"}."""
    data = {key: value for key, value in event.payload.items() if key not in INTERNAL_KEYS}
    return {"type": event.type, "timestamp": event.payload.get("occurred_at"), "data": data}


def _may_see(owner: User, event: Event, task: HumanTask | None) -> bool:
    if EVENT_TYPES[event.type].family == "task":
        return task is not None and task_access(user=owner, task=task).view
    instance_id = event.payload.get("instance") or event.instance_id
    return instances_visible_to(user=owner, instance_id=instance_id).exists()


def _subscribed(endpoint: WebhookEndpoint, event: Event) -> bool:
    kind = event.payload.get("kind")
    return event.type in endpoint.event_types and (
        not endpoint.process_kinds or kind in endpoint.process_kinds
    )


def webhooks_fan_out(event: Event) -> list[int]:
    """Write the deliveries `event` owes (in one transaction) and enqueue them after commit;
    return their ids (none for a repeat or an event nobody subscribes to)."""
    return webhooks_fan_out_all([event])


def webhooks_fan_out_all(events: list[Event]) -> list[int]:
    """The same for several events (the relay's pass, the catch-up), in order, reading the
    endpoints once for all of them. An event that fails is logged and left to the catch-up;
    the others still go."""
    return _fan_out_each(events)[0]


def _fan_out_each(events: list[Event]) -> tuple[list[int], list[Event]]:
    """(the deliveries written, the events that failed)."""
    events = [event for event in events if event.type in EVENT_TYPES]
    failed: list[Event] = []
    if not events:
        return [], failed
    # Endpoints are few next to events; filtering the JSON lists here keeps one plain query
    # that works on SQLite (the embedded default) as on PostgreSQL. Without a subscription to
    # the type (enabled or not) nothing is written at all: most events cost a share of one read.
    endpoints = rows_compiled(
        "webhook endpoints", lambda: WebhookEndpoint.objects.select_related("owner").order_by("id"), {}
    )
    ids: list[int] = []
    for event in events:
        subscribers = [endpoint for endpoint in endpoints if event.type in endpoint.event_types]
        if not subscribers:
            continue
        try:
            ids += _fan_out(event, subscribers)
        except Exception:
            # Its own savepoint is rolled back; the others still go, and the catch-up retries it.
            logger.exception("event %s (%s) not fanned out; the catch-up will", event.id, event.type)
            failed.append(event)
    return ids, failed


def _fan_out(event: Event, subscribers: list[WebhookEndpoint]) -> list[int]:
    from apps.webhooks.services.delivery import deliveries_enqueue

    occurred_at = parse_datetime(str(event.payload.get("occurred_at") or "")) or timezone.now()
    with transaction.atomic():
        _, first_time = WebhookEventSeen.objects.get_or_create(
            event_id=event.id, defaults={"instance_id": event.instance_id}
        )
        if not first_time:
            return []
        # An endpoint hears of what happened while it existed and was enabled.
        endpoints = [
            endpoint
            for endpoint in subscribers
            if endpoint.enabled and endpoint.created_at <= occurred_at and _subscribed(endpoint, event)
        ]
        if not endpoints:
            return []
        task = None
        if EVENT_TYPES[event.type].family == "task":
            task = HumanTask.objects.filter(pk=event.payload.get("task")).first()
        seen_by: dict[int, bool] = {}
        deliveries = []
        body = event_body(event)
        for endpoint in endpoints:
            if endpoint.owner_id not in seen_by:
                seen_by[endpoint.owner_id] = _may_see(endpoint.owner, event, task)
            if seen_by[endpoint.owner_id]:
                deliveries.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        event_id=event.id,
                        event_type=event.type,
                        instance_id=event.instance_id,
                        message_id=message_id_new(),
                        body=body,
                    )
                )
        created = WebhookDelivery.objects.bulk_create(deliveries)
        ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: deliveries_enqueue(ids))
    return ids


def events_catch_up(*, limit: int = 200) -> int:
    """Fan out the catalogue events that were dispatched a while ago and never reached the
    fan-out (their job was lost with the broker's data); return how many."""
    enabled = list(WebhookEndpoint.objects.filter(enabled=True).values_list("created_at", "event_types"))
    if not enabled:
        return 0
    # Only the types someone subscribes to: the fan-out records no other event as seen.
    subscribed = sorted({name for _, names in enabled for name in names} & set(EVENT_TYPES))
    now = timezone.now()
    missed = (
        OutboxMessage.objects.filter(
            topic__in=subscribed,
            created_at__gte=min(created_at for created_at, _ in enabled),
            dispatched_at__gte=now - timedelta(seconds=settings.WEBHOOKS_CATCH_UP_WINDOW_SECONDS),
            dispatched_at__lt=now - timedelta(seconds=settings.WEBHOOKS_CATCH_UP_AFTER_SECONDS),
        )
        .filter(~Exists(WebhookEventSeen.objects.filter(event_id=OuterRef("id"))))
        .order_by("id")[:limit]
    )
    found = [
        Event(id=row.pk, type=row.topic, payload=row.payload, instance_id=row.instance_id) for row in missed
    ]
    _ids, failed = _fan_out_each(found)
    count = len(found) - len(failed)
    if count:
        logger.warning("webhooks: %d event(s) fanned out by the catch-up (their job was lost)", count)
    if failed:
        logger.warning("webhooks: %d event(s) failed in the catch-up; the next sweep retries", len(failed))
    return count
