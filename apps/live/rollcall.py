"""The open live sockets of this server process, re-checked together.

A lost control message (apps.notifications.services.live_control) must not keep a
deactivated or signed-out person listening, so every LIVE_RECHECK_SECONDS the process asks
the database once which of its sockets' people are still active and whose sessions are
still alive, closes the others (4403), and renews the presence of the rest (who needs no
mail) in one Redis round trip. A check per socket was a database connection of its own
every 30 ms at 1,000 sockets, on the one thread the sockets' database calls share.

The same call reads the head and the access mark of every stream the process's sockets hear
(one more round trip) and lets each socket catch up on what it has not had: the channel
layer delivers at most once (a pub/sub message published while a server's subscription
reconnects is gone). A socket otherwise learns of a lost event only when the stream's next
one arrives, and of a lost "access_changed" never: a moved mark makes it recompute its
streams (one query, for that socket only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from importlib import import_module
from typing import Protocol

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.notifications.live import live_heads_and_marks, live_presence_touch

logger = logging.getLogger(__name__)


class Member(Protocol):
    """What the roll call needs of a socket (apps.live.consumers.InboxConsumer)."""

    user_id: int | None
    session_key: str | None
    channel_name: str
    last: dict[str, int]

    async def signed_out(self) -> None: ...

    async def roll_call(self, heads: dict[str, int], marks: dict[str, int]) -> None: ...


def presence_ttl() -> float:
    # Three periods: one late or failed roll call does not make anyone look offline.
    return settings.LIVE_RECHECK_SECONDS * 3


def _who_is_gone(*, user_ids: set[int], session_keys: set[str]) -> tuple[set[int], set[str]]:
    """Of these people and sessions, those deactivated (or deleted) and those ended; two queries."""
    active = set(
        get_user_model().objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True)
    )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    model_of = getattr(store, "get_model_class", None)
    if model_of is not None:  # the database-backed engines: one query for every session
        alive = set(
            model_of()
            .objects.filter(session_key__in=session_keys, expire_date__gt=timezone.now())
            .values_list("session_key", flat=True)
        )
    else:
        alive = {key for key in session_keys if store().exists(key)}
    return user_ids - active, session_keys - alive


class _Roll:
    def __init__(self) -> None:
        self.members: dict[Member, None] = {}  # insertion-ordered set
        self.task: asyncio.Task | None = None

    def join(self, member: Member) -> None:
        self.members[member] = None
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._call_forever())

    def leave(self, member: Member) -> None:
        self.members.pop(member, None)

    async def _call_forever(self) -> None:
        # Jittered: server processes started together (a deploy) do not query together.
        await asyncio.sleep(settings.LIVE_RECHECK_SECONDS * (0.5 + random.random() / 2))
        while self.members:
            try:
                await self.call()
            except Exception:
                logger.exception("live roll call failed; the next one retries")
            await asyncio.sleep(settings.LIVE_RECHECK_SECONDS)

    async def call(self) -> None:
        members = [m for m in self.members if m.user_id is not None]
        if not members:
            return
        gone_users, gone_sessions = await database_sync_to_async(_who_is_gone)(
            user_ids={m.user_id for m in members},
            session_keys={m.session_key for m in members if m.session_key},
        )
        staying = []
        for member in members:
            if member.user_id in gone_users or member.session_key in gone_sessions:
                self.leave(member)
                await member.signed_out()
            else:
                staying.append(member)
        with contextlib.suppress(Exception):  # presence is a hint for mail, never a failure
            await sync_to_async(live_presence_touch, thread_sensitive=False)(
                connections=[(m.user_id, m.channel_name) for m in staying], ttl=presence_ttl()
            )
        streams = sorted({stream for member in staying for stream in member.last})
        if not streams:
            return
        heads, marks = await sync_to_async(live_heads_and_marks, thread_sensitive=False)(streams=streams)
        for member in staying:
            try:
                await member.roll_call(heads, marks)
            except Exception:  # one socket's failure must not skip the others
                logger.exception("live roll call of a socket failed; the next one retries")


_rolls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Roll] = weakref.WeakKeyDictionary()


def _roll() -> _Roll:
    loop = asyncio.get_running_loop()
    if loop not in _rolls:
        _rolls[loop] = _Roll()
    return _rolls[loop]


def rollcall_join(member: Member) -> None:
    """Re-check `member` with the other sockets of this process from now until it leaves."""
    _roll().join(member)


def rollcall_leave(member: Member) -> None:
    _roll().leave(member)
