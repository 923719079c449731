"""Subscriptions: create, change, delete, rotate the secret, ping, redeliver by hand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import InvalidWebhookEndpoint, StaleVersion
from apps.notifications.events import EVENT_TYPES
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.signing import secret_encrypt, secret_generate
from apps.webhooks.targets import url_refusal
from apps.workflows.registry import process_kind_names

if TYPE_CHECKING:
    from apps.accounts.models import User

PING_EVENT = "webhook.ping"
CHANGEABLE = ("url", "description", "event_types", "process_kinds", "enabled", "ordered_by_instance")


def message_id_new() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _chain(endpoint: WebhookEndpoint) -> str:
    return f"webhook-endpoint:{endpoint.pk}"


def endpoint_check(*, url: str, event_types: list[str], process_kinds: list[str]) -> None:
    """InvalidWebhookEndpoint naming every field at fault, or nothing."""
    errors: dict[str, list[str]] = {}
    refusal = url_refusal(url)
    if refusal:
        errors["url"] = [f"Not a webhook target: {refusal}."]
    if not event_types:
        errors["event_types"] = ["Subscribe to at least one event type."]
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        errors["event_types"] = [
            f"Not in the event catalogue: {', '.join(unknown)}. Known: {', '.join(sorted(EVENT_TYPES))}."
        ]
    unknown_kinds = sorted(set(process_kinds) - set(process_kind_names()))
    if unknown_kinds:
        errors["process_kinds"] = [f"No such process kind: {', '.join(unknown_kinds)}."]
    if errors:
        raise InvalidWebhookEndpoint("The webhook endpoint is not valid.", errors=errors)


def endpoint_create(
    *,
    owner: User,
    url: str,
    event_types: list[str],
    process_kinds: list[str] | None = None,
    description: str = "",
    enabled: bool = True,
    ordered_by_instance: bool = False,
    actor: User | None,
) -> tuple[WebhookEndpoint, str]:
    """A new subscription and its secret (`whsec_...`): the only time the secret is returned."""
    process_kinds = sorted(set(process_kinds or []))
    event_types = sorted(set(event_types))
    endpoint_check(url=url, event_types=event_types, process_kinds=process_kinds)
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            owner=owner,
            url=url,
            description=description,
            event_types=event_types,
            process_kinds=process_kinds,
            enabled=enabled,
            ordered_by_instance=ordered_by_instance,
            secret_encrypted=secret_encrypt(secret),
        )
        audit_record(
            action="webhook.endpoint_created",
            actor=actor,
            chain_key=_chain(endpoint),
            data={
                "endpoint": endpoint.pk,
                "url": url,
                "event_types": event_types,
                "owner": owner.get_username(),
            },
        )
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint, expected_version: int | None) -> WebhookEndpoint:
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"The endpoint changed since you read it (now version {locked.version}); read it again."
        )
    return locked


def endpoint_update(
    *, endpoint: WebhookEndpoint, actor: User | None, expected_version: int | None = None, **changes: Any
) -> WebhookEndpoint:
    """Change the fields named in `changes` (see CHANGEABLE). Enabling clears the reason it was
    disabled and its failure streak; its pending deliveries resume."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise ValueError(f"not changeable: {sorted(unknown)}")
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    if "process_kinds" in changes:
        changes["process_kinds"] = sorted(set(changes["process_kinds"]))
    with transaction.atomic():
        locked = _locked(endpoint, expected_version)
        endpoint_check(
            url=changes.get("url", locked.url),
            event_types=changes.get("event_types", locked.event_types),
            process_kinds=changes.get("process_kinds", locked.process_kinds),
        )
        changed = {name: value for name, value in changes.items() if getattr(locked, name) != value}
        if not changed:
            return locked
        for name, value in changed.items():
            setattr(locked, name, value)
        if changed.get("enabled") is True:
            locked.disabled_reason = ""
            locked.failing_since = None
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save()
        audit_record(
            action="webhook.endpoint_changed",
            actor=actor,
            chain_key=_chain(locked),
            data={"endpoint": locked.pk, "changed": {k: v for k, v in changed.items()}},
        )
    if changed.get("enabled") is True:
        transaction.on_commit(lambda: _enqueue_pending_of(locked))
    return locked


def _enqueue_pending_of(endpoint: WebhookEndpoint) -> None:
    from apps.webhooks.services.delivery import deliveries_enqueue

    ids = list(
        WebhookDelivery.objects.filter(endpoint=endpoint, state=WebhookDelivery.State.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:500]
    )
    deliveries_enqueue(ids)


def endpoint_delete(
    *, endpoint: WebhookEndpoint, actor: User | None, expected_version: int | None = None
) -> None:
    """Delete the subscription with its delivery log; nothing more is sent to it."""
    with transaction.atomic():
        locked = _locked(endpoint, expected_version)
        audit_record(
            action="webhook.endpoint_deleted",
            actor=actor,
            chain_key=_chain(locked),
            data={"endpoint": locked.pk, "url": locked.url},
        )
        locked.delete()


def endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, actor: User | None, expected_version: int | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned this once. Until WEBHOOKS_SECRET_OVERLAP_HOURS have passed,
    every request is signed with both the new and the previous secret, so receivers can
    switch over without losing a delivery."""
    secret = secret_generate()
    with transaction.atomic():
        locked = _locked(endpoint, expected_version)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = timezone.now() + timedelta(
            hours=settings.WEBHOOKS_SECRET_OVERLAP_HOURS
        )
        locked.secret_encrypted = secret_encrypt(secret)
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save()
        audit_record(
            action="webhook.secret_rotated",
            actor=actor,
            chain_key=_chain(locked),
            data={
                "endpoint": locked.pk,
                "previous_valid_until": locked.previous_secret_expires_at.isoformat(),
            },
        )
    return locked, secret


def endpoint_ping(*, endpoint: WebhookEndpoint, actor: User | None) -> WebhookDelivery:
    """A `webhook.ping` delivery (not a catalogue event) to check the receiver end to end;
    it is delivered and retried as any other, and logged."""
    from apps.webhooks.services.delivery import deliveries_enqueue

    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type=PING_EVENT,
            message_id=message_id_new(),
            body={
                "type": PING_EVENT,
                "timestamp": now.isoformat(),
                "data": {"endpoint": endpoint.pk, "requested_by": actor.get_username() if actor else None},
            },
        )
        transaction.on_commit(lambda: deliveries_enqueue([delivery.pk]))
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery, actor: User | None) -> WebhookDelivery:
    """Send a delivery again, by hand, with the same `webhook-id` (receivers that already
    have it drop it): a fresh retry schedule from now."""
    return deliveries_redeliver(endpoint=delivery.endpoint, actor=actor, ids=[delivery.pk])[0]


def deliveries_redeliver(
    *,
    endpoint: WebhookEndpoint,
    actor: User | None,
    ids: list[int] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    failed_only: bool = False,
) -> list[WebhookDelivery]:
    """Put the endpoint's deliveries (by id, or created in a time range) back in line."""
    from apps.webhooks.services.delivery import deliveries_enqueue

    selected = WebhookDelivery.objects.filter(endpoint=endpoint)
    if ids is not None:
        selected = selected.filter(pk__in=ids)
    if created_after is not None:
        selected = selected.filter(created_at__gte=created_after)
    if created_before is not None:
        selected = selected.filter(created_at__lt=created_before)
    if failed_only:
        selected = selected.filter(state=WebhookDelivery.State.FAILED)
    now = timezone.now()
    with transaction.atomic():
        chosen = list(selected.select_for_update().order_by("id")[: settings.WEBHOOKS_REDELIVER_MAX])
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in chosen]).update(
            state=WebhookDelivery.State.PENDING,
            attempts=0,
            next_attempt_at=now,
            enqueued_for=None,
            finished_at=None,
            redeliveries=F("redeliveries") + 1,
        )
        audit_record(
            action="webhook.redelivery_requested",
            actor=actor,
            chain_key=_chain(endpoint),
            data={"endpoint": endpoint.pk, "deliveries": [d.pk for d in chosen][:100], "count": len(chosen)},
        )
        ids_chosen = [d.pk for d in chosen]
        transaction.on_commit(lambda: deliveries_enqueue(ids_chosen))
    return list(WebhookDelivery.objects.filter(pk__in=ids_chosen).order_by("id"))
