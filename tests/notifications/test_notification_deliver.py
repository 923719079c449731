"""Events from the outbox reach the channel layer's groups (where the inbox's websockets and
the webhook sender listen), here a real channels-redis layer on the test's own Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer

from apps.notifications.live import live_heads
from apps.notifications.services import notification_deliver

# The event also goes to the registered sinks (webhooks), which read the database.
pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def redis_layer(settings, own_redis):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [own_redis.url]}}
    }
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_an_event_reaches_the_groups_its_producer_named_and_no_others(redis_layer):
    layer = redis_layer

    async def listen() -> list[str]:
        watcher = await layer.new_channel()
        manager = await layer.new_channel()
        await layer.group_add("instance-7", watcher)
        await layer.group_add("role-3", manager)
        return [watcher, manager]

    watcher, manager = async_to_sync(listen)()
    notification_deliver(
        message_id=41, topic="task.escalated", payload={"task": 9, "notify_groups": ["role-3"]}, instance_id=7
    )

    async def receive(channel: str, timeout: float = 5) -> dict | None:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout)
        except TimeoutError:
            return None

    message = async_to_sync(receive)(manager)
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
    assert async_to_sync(receive)(watcher, 0.5) is None
