"""The outbox relay inside the web server process, for the embedded default.

With the in-memory channel layer (no Redis) an event reaches only the sockets of the process
that sends it, and the embedded default's sockets are all in its one web process. So
`manage.py start` makes that process the only relay: its worker child relays nothing
(OUTBOX_RELAY_HERE=0 in the child's environment), and this loop, in the web server's event
loop, relays whatever is due every OUTBOX_RELAY_POLL_SECONDS besides the web process's own
on-commit nudges. Events made in the worker (reminders, escalations, step results) reach
open sockets within that interval, and jobs made there are published as soon.

The bell's notifications are written by the worker's people job, whose "bell" control message
would stay in the worker; this loop rings the bells of notifications written since its last
look instead.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max

from apps.notifications.events import user_group
from apps.notifications.models import Notification
from apps.notifications.services import live_control, outbox_relay

logger = logging.getLogger(__name__)


def _latest_notification() -> int:
    return Notification.objects.aggregate(latest=Max("pk"))["latest"] or 0


def _relay_and_ring(*, rung_up_to: int) -> int:
    """One relay run, then one query for new notifications; the last notification rung."""
    outbox_relay()
    fresh = list(Notification.objects.filter(pk__gt=rung_up_to).values_list("pk", "user_id"))
    if fresh:
        live_control(groups=sorted({user_group(user_id) for _pk, user_id in fresh}), kind="bell")
        rung_up_to = max(pk for pk, _user_id in fresh)
    return rung_up_to


async def web_relay_forever() -> None:
    """Relay and ring every OUTBOX_RELAY_POLL_SECONDS until the server stops. Runs in the
    server's event loop; the relay itself runs on the database thread, from which the channel
    layer is reached back on this loop (the in-memory layer belongs to it)."""
    rung_up_to = await database_sync_to_async(_latest_notification)()
    while True:
        try:
            rung_up_to = await database_sync_to_async(_relay_and_ring)(rung_up_to=rung_up_to)
        except Exception:
            logger.exception("outbox relay in the web process failed; the next run retries")
        await asyncio.sleep(settings.OUTBOX_RELAY_POLL_SECONDS)


def web_relay_start() -> asyncio.Task:
    """Start the loop in the running event loop (the web server's)."""
    return asyncio.get_running_loop().create_task(web_relay_forever())
