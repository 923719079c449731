"""Events from the outbox reach the channel layer's groups (where the inbox's websockets and
the webhook sender listen), here a real channels-redis layer on the test's own Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer

from apps.notifications.live import live_heads
from apps.notifications.services import notification_deliver
from config.settings import channel_layers_on_redis

# The event also goes to the registered sinks (webhooks), which read the database.
pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(params=["pubsub", "lists"])
def redis_layer(request, settings, own_redis):
    """Each kind of channel layer production may run (config.settings.CHANNEL_LAYER_KIND)."""
    settings.CHANNEL_LAYERS = channel_layers_on_redis(own_redis.url, prefix="asgi", kind=request.param)
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_an_event_reaches_the_groups_its_producer_named_and_no_others(redis_layer):
    layer = redis_layer

    async def receive(channel: str, timeout: float) -> dict | None:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout)
        except TimeoutError:
            return None

    # One event loop throughout, as in a server process: a pub/sub layer's subscriptions
    # belong to the loop that made them.
    async def listen_deliver_receive() -> tuple[dict | None, dict | None]:
        watcher = await layer.new_channel()
        manager = await layer.new_channel()
        await layer.group_add("instance-7", watcher)
        await layer.group_add("role-3", manager)
        await sync_to_async(notification_deliver)(
            message_id=41,
            topic="task.escalated",
            payload={"task": 9, "notify_groups": ["role-3"]},
            instance_id=7,
        )
        return await receive(manager, 5), await receive(watcher, 0.5)

    message, watcher_heard = async_to_sync(listen_deliver_receive)()
    assert message is not None
    # A stream's first number is where its counter started (the time in ms), not 1.
    seq = live_heads(streams=["role-3"])["role-3"]
    assert seq > 0
    # The socket's frame is encoded once here, for every socket of the stream; it names no
    # other group the event went to.
    assert json.loads(message.pop("frame")) == {
        "type": "event",
        "id": 41,
        "topic": "task.escalated",
        "time": None,
        "data": {"task": 9},
        "stream": "role-3",
        "seq": seq,
    }
    assert message == {
        "type": "outbox.event",
        "message_id": 41,
        "topic": "task.escalated",
        "stream": "role-3",
        "seq": seq,
    }
    # Whoever watches the instance hears only what its producer addressed to them.
    assert watcher_heard is None
