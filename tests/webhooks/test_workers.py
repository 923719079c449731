"""Webhooks on real Celery workers and a Redis of the test's own: retries keep their
webhook-id, and neither a Redis outage nor a killed worker loses a delivery."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services.endpoints import endpoint_create
from apps.workflows.services import instance_start
from tests.celery_workers import wait_for
from tests.factories import purchase_order_data
from tests.webhooks.receiver import Answer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FAST = {
    "WEBHOOKS_RETRY_SCHEDULE_SECONDS": "0.3,0.3,0.3,0.3,0.3,0.3",
    "WEBHOOKS_SWEEP_SECONDS": "0.5",
    "WEBHOOKS_REQUEUE_AFTER_SECONDS": "2",
    "WEBHOOKS_LEASE_MARGIN_SECONDS": "1",
    "WEBHOOKS_TIMEOUT_SECONDS": "2",
    "WEBHOOKS_CATCH_UP_SECONDS": "1",
    "WEBHOOKS_CATCH_UP_AFTER_SECONDS": "2",
}


def orders(people, count, prefix="PO"):
    return [
        instance_start(
            kind="purchase_order",
            business_key=f"{prefix}-{n}",
            data=purchase_order_data(100),
            actor=people["requester"],
        )
        for n in range(count)
    ]


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(people, workers, receiver):
    receiver.answer_with(Answer(500), Answer(500))
    _, secret = endpoint_create(
        owner=people["lead"], url=receiver.url, event_types=["task.created"], actor=None
    )
    workers.start(**FAST)
    orders(people, 1)

    wait_for(lambda: len(receiver.received()) >= 3, timeout=30, what="three attempts")
    wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").exists(), timeout=10, what="success")
    requests = receiver.received()
    assert len(requests) == 3
    assert len({r.webhook_id for r in requests}) == 1
    for request in requests:
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "task.created"


def test_a_redis_outage_loses_no_delivery(people, workers, own_redis, receiver):
    endpoint_create(
        owner=people["lead"],
        url=receiver.url,
        event_types=["task.created", "instance.transitioned"],
        actor=None,
    )
    workers.start(**FAST)
    own_redis.stop()
    orders(people, 3, "DOWN")  # the events wait in the outbox
    own_redis.start()
    wait_for(
        lambda: len({r.webhook_id for r in receiver.received()}) == 6, timeout=120, what="six deliveries"
    )

    # Redis goes away again while deliveries are queued in it (it keeps nothing on disk):
    # the receiver is slow, so most jobs are still in the broker when it dies.
    receiver.default = Answer(200, delay=0.3)
    orders(people, 4, "LOST")
    wait_for(lambda: WebhookDelivery.objects.count() == 14, timeout=30, what="the fan-out of the new events")
    own_redis.stop()
    own_redis.start()
    wait_for(
        lambda: WebhookDelivery.objects.filter(state="succeeded").count() == 14,
        # Generous: workers reconnect to the broker on their own backoff, slower on a busy machine.
        timeout=150,
        what="every delivery to succeed after the outage",
    )
    assert len({r.webhook_id for r in receiver.received()}) == 14


def test_a_worker_killed_mid_delivery_loses_nothing(people, workers, receiver):
    endpoint_create(owner=people["lead"], url=receiver.url, event_types=["task.created"], actor=None)
    receiver.answer_with(Answer(200, delay=5))
    first = workers.start("w1", **FAST)
    orders(people, 1)
    wait_for(lambda: receiver.received(), timeout=30, what="the first attempt to start")
    first.kill()
    workers.start("w2", **FAST)
    wait_for(
        lambda: WebhookDelivery.objects.filter(state="succeeded").exists(),
        timeout=60,
        what="the delivery to go out again from the other worker",
    )
    requests = receiver.received()
    assert len(requests) >= 2 and len({r.webhook_id for r in requests}) == 1
