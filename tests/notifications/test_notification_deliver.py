"""Events from the outbox reach the channel layer's groups (where the inbox's websockets and
the webhook sender listen), here a real channels-redis layer on the test's own Redis."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer

from apps.notifications.services import notification_deliver

pytestmark = [pytest.mark.redis]


@pytest.fixture
def redis_layer(settings, own_redis):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [own_redis.url]}}
    }
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_an_event_reaches_the_instance_group_and_the_groups_it_names(redis_layer):
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

    async def receive(channel: str) -> dict:
        return await layer.receive(channel)

    for channel in (watcher, manager):
        event = async_to_sync(receive)(channel)
        assert event == {
            "type": "outbox.event",
            "message_id": 41,
            "topic": "task.escalated",
            "payload": {"task": 9, "notify_groups": ["role-3"]},
        }
