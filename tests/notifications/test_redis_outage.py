"""Redis (the broker) goes away while people keep working; when it is back, the relay
delivers every outbox row, in order per instance, and the worker runs every step."""

from __future__ import annotations

import time

import pytest

from apps.notifications.models import OutboxMessage
from apps.workflows.models import WorkflowInstance
from tests.celery_workers import wait_for
from tests.factories import start_account_activation, start_purchase_order

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_rows_written_while_redis_is_down_are_all_delivered_when_it_returns(
    people, workers, own_redis, live_on
):
    # Events go to the channel layer and the live store on the same Redis, as in production.
    live_on(own_redis.url)
    worker = workers.start()
    own_redis.stop()

    started = time.monotonic()
    activations = [start_account_activation(people["integration"], business_key=f"ACC-{n}") for n in range(4)]
    orders = [start_purchase_order(people["requester"], amount=100, business_key=f"PO-{n}") for n in range(3)]
    assert time.monotonic() - started < 7, "the outage must not hold up the transitions"
    waiting = OutboxMessage.objects.filter(dispatched_at__isnull=True)
    # Per activation: its event and two steps; per order: its event and its team lead task.
    assert waiting.count() == 4 * 3 + 3 * 2
    assert all("Connection refused" in row.last_error for row in waiting.filter(attempts__gt=0))
    assert not WorkflowInstance.objects.filter(state="active").exists()

    own_redis.start()

    def all_active() -> bool:
        return (
            WorkflowInstance.objects.filter(pk__in=[a.pk for a in activations], state="active").count() == 4
        )

    # Workers reconnect to a Redis that came back on their own backoff; on a busy machine that
    # has taken over a minute.
    wait_for(all_active, timeout=120, interval=0.25, what="every activation to finish its checks")
    wait_for(lambda: not waiting.exists(), timeout=30, what="every outbox row to be delivered")
    for instance in [*activations, *orders]:
        rows = list(OutboxMessage.objects.filter(instance=instance).order_by("id"))
        dispatched = [row.dispatched_at for row in rows]
        assert dispatched == sorted(dispatched), f"instance {instance.pk} delivered out of order"
    # Each activation: start, two check results; and each step's event after it.
    assert OutboxMessage.objects.filter(topic="instance.transitioned", instance__in=activations).count() == 12
    # The worker rode out the broker's loss (it used to exit with "Unrecoverable error:
    # AttributeError 'NoneType' object has no attribute 'hostname'": config/redis_broker.py).
    assert worker.process.poll() is None and not worker.unrecoverable_errors(), worker.output()[-4000:]
