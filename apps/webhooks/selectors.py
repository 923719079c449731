"""Reads of the webhooks: an endpoint and its delivery log are visible to its owner only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Prefetch, QuerySet

from apps.core.errors import NotFound
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.workflows.selectors import MAX_ID

if TYPE_CHECKING:
    from apps.accounts.models import User


def _id(value: int | str) -> int | None:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk <= MAX_ID else None


def endpoints_of(*, user: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user)


def endpoint_get_for(*, user: User, endpoint_id: int | str) -> WebhookEndpoint:
    """The endpoint if `user` owns it; otherwise NotFound, never a hint that it exists."""
    pk = _id(endpoint_id)
    endpoint = endpoints_of(user=user).filter(pk=pk).first() if pk else None
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log with each delivery's attempts, oldest attempt first."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("id"))
    )


def delivery_get_for(*, endpoint: WebhookEndpoint, delivery_id: int | str) -> WebhookDelivery:
    pk = _id(delivery_id)
    delivery = deliveries_of(endpoint=endpoint).filter(pk=pk).first() if pk else None
    if delivery is None:
        raise NotFound("No such delivery of this endpoint.")
    return delivery
