"""The live inbox's websocket, `/ws/inbox/` (protocol: docs/live.md).

Thin: who the person is comes from the session or header (apps.live.auth), which streams
they hear from apps.humantasks.selectors.live_streams_for (recomputed whenever their access
changes), and what they missed from the live event store (apps.notifications.live). The
consumer only keeps each stream's last sequence it sent, so every event reaches the client
once and in order per stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.core.metrics import websocket_connected, websocket_disconnected
from apps.humantasks.selectors import live_streams_for
from apps.live.rollcall import presence_ttl, rollcall_join, rollcall_leave
from apps.live.throttle import frame_bucket
from apps.notifications.live import (
    live_heads,
    live_heads_and_marks,
    live_presence_leave,
    live_presence_touch,
    live_replay,
)

# Close codes (docs/live.md).
CLOSE_NOT_SIGNED_IN = 4401
CLOSE_SIGNED_OUT = 4403
CLOSE_FLOODING = 4429
# (Daphne lets a server close only with 1000 or 3000-4999.)
CLOSE_TOO_BIG = 4413
# A client frame is a small JSON object; anything larger is not one of ours.
MAX_FRAME_BYTES = 8192
# Refused frames in a row (while throttled) before the socket is closed.
MAX_REFUSED = 50
RESUME_MAX_STREAMS = 500


def session_mark(session_key: str | None) -> str | None:
    """What a sign-out control message names a session by (never the key itself)."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:24] if session_key else None


@database_sync_to_async
def _streams_for(user_id: int) -> list[str] | None:
    """None when the person is gone or deactivated."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return None if user is None else live_streams_for(user=user)


# The event store's calls are blocking Redis round trips on a thread-safe client: they need
# not queue behind the database calls on Channels' one database thread.
_store_call = partial(sync_to_async, thread_sensitive=False)


class InboxConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        self.user_id: int | None = None
        self.last: dict[str, int] = {}
        # Each stream's access mark when the subscriptions were last computed (live_access_changed).
        self.marks: dict[str, int] = {}
        # Held while the subscriptions or the cursors move across awaits (resume, following
        # access, catching up): the roll call runs on a task of its own and must not see them
        # half-moved (a stream at 0 would replay its whole history).
        self.moving = asyncio.Lock()
        self.started = False
        self.closing = False
        self.bucket = frame_bucket(
            burst=settings.LIVE_CLIENT_BURST, rate=settings.LIVE_CLIENT_FRAMES_PER_SECOND
        )
        self.refused = 0
        # Browsers see no reason for a refused handshake: accept, then close with a code.
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        self.user_id = user.pk
        session = self.scope.get("session")
        self.session_key = None if self.scope.get("auth_header") else getattr(session, "session_key", None)
        streams = await _streams_for(self.user_id)
        if streams is None:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        await self._subscribe(streams)
        self.counted = True
        websocket_connected()
        heads, self.marks = await _store_call(live_heads_and_marks)(streams=streams)
        with contextlib.suppress(Exception):  # presence is a hint for mail, never a failure
            await _store_call(live_presence_touch)(
                connections=[(self.user_id, self.channel_name)], ttl=presence_ttl()
            )
        rollcall_join(self)
        await self._send({"type": "hello", "user": user.get_username(), "streams": heads})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            websocket_disconnected()
        rollcall_leave(self)
        for stream in list(self.last):
            await self.channel_layer.group_discard(stream, self.channel_name)
        if self.user_id is not None:
            with contextlib.suppress(Exception):
                await _store_call(live_presence_leave)(user_id=self.user_id, connection=self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As Channels' own, without its hop to the database thread before every message
        (closing stale connections): one event to 1,000 sockets queued 1,000 hops on that
        one thread. This consumer reads the database only through database_sync_to_async,
        which closes stale connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- frames from the client ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user_id is None:
            return
        if not self.bucket.take():
            self.refused += 1
            if self.refused >= MAX_REFUSED:
                await self.close(code=CLOSE_FLOODING)
            elif self.refused == 1:
                await self._error("throttled", "Too many frames; slow down.")
            return
        self.refused = 0
        if bytes_data is not None and text_data is None:
            await self._error("binary", "Send JSON text frames.")
            return
        if text_data is None or len(text_data.encode()) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: 8 KiB of "[[[[..." nests deeper than the decoder goes.
            await self._error("malformed", "A frame is one JSON object.")
            return
        if not isinstance(frame, dict):
            await self._error("malformed", "A frame is one JSON object.")
            return
        kind = frame.get("type")
        if kind == "resume":
            await self._resume(frame.get("after"))
        elif kind == "ping":
            await self._send({"type": "pong"})
        else:
            await self._error("unknown_type", "Known frame types: resume, ping.")

    async def _resume(self, after: Any) -> None:
        """Start (or restart) sending: what each stream sent after the client's last
        sequence, then everything live. Without `after`, from now."""
        if after is None:
            after = {}
        if not isinstance(after, dict) or len(after) > RESUME_MAX_STREAMS:
            await self._error("malformed", '"after" maps stream names to the last sequence seen.')
            return
        clean: dict[str, int] = {}
        for stream, seq in after.items():
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                await self._error("malformed", '"after" maps stream names to the last sequence seen.')
                return
            # Only the streams the server chose; any other name the client sends is ignored.
            if stream in self.last:
                clean[stream] = seq
        async with self.moving:
            heads = await _store_call(live_heads)(streams=sorted(self.last))
            self.started = True
            granted = False
            for stream in sorted(self.last):
                if stream in clean:
                    self.last[stream] = clean[stream]
                    granted |= await self._catch_up(stream, upto=None)
                else:
                    self.last[stream] = heads[stream]
            await self._send({"type": "resumed", "streams": dict(self.last)})
            if granted:
                await self._follow_access_moving()

    # --- messages from the channel layer ------------------------------------------------------

    async def outbox_event(self, message: dict[str, Any]) -> None:
        stream, seq = message.get("stream"), message.get("seq")
        if not self.started or stream not in self.last or not isinstance(seq, int):
            return
        last = self.last[stream]
        if seq <= last:
            return  # a repeat (the relay is at least once) or already replayed
        if seq > last + 1:
            # Another relay's event overtook this one on the layer: fill the gap from the store.
            if await self._catch_up(stream, upto=seq):
                await self._follow_access()
            return
        self.last[stream] = seq
        await self.send(text_data=message["frame"])  # encoded once by the relay, for every socket
        if message["topic"] == "task.access_granted" and stream.startswith("user-"):
            await self._follow_access()

    async def live_control(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "access_changed":
            await self._follow_access()
        elif kind == "deactivated":
            await self.close(code=CLOSE_SIGNED_OUT)
        elif kind == "signed_out":
            mark = message.get("session")
            if mark is None or mark == session_mark(self.session_key):
                await self.close(code=CLOSE_SIGNED_OUT)
        elif kind == "bell":
            await self._send({"type": "bell"})

    # --- helpers ------------------------------------------------------------------------------

    async def roll_call(self, heads: dict[str, int], marks: dict[str, int]) -> None:
        """The roll call's check for what the channel layer lost (it delivers at most once):
        an access change whose control message never came (the streams' `marks` moved), and
        events the streams' `heads` say this socket has not had."""
        if not self.started or self.closing or self.moving.locked():
            return  # a resume or an access change is under way; the next roll call checks
        async with self.moving:
            if any(marks.get(stream, 0) != self.marks.get(stream, 0) for stream in self.last):
                await self._follow_access_moving()
            granted = False
            for stream in sorted(self.last):
                last = self.last.get(stream)  # None: access to it went during a catch-up
                if last is not None and heads.get(stream, 0) > last:
                    granted |= await self._catch_up(stream, upto=None)
            if granted:
                await self._follow_access_moving()

    async def _catch_up(self, stream: str, *, upto: int | None) -> bool:
        """Send `stream`'s events after the last one sent (up to `upto`) from the store, or a
        refresh. True when one of them granted the person a task: their streams change."""
        replay = await _store_call(live_replay)(stream=stream, after=self.last[stream])
        if stream not in self.last:
            return False  # access to it went while the store answered
        if replay.refresh:
            self.last[stream] = replay.head
            await self._send({"type": "refresh", "stream": stream})
            return False
        granted = False
        for event in replay.events:
            if upto is not None and event["seq"] > upto:
                break
            if event["seq"] <= self.last[stream]:
                continue  # the layer delivered it while the store answered
            self.last[stream] = event["seq"]
            await self._send({"type": "event", **event})
            granted |= event.get("topic") == "task.access_granted" and stream.startswith("user-")
        return granted

    async def _subscribe(self, streams: list[str]) -> None:
        for stream in streams:
            await self.channel_layer.group_add(stream, self.channel_name)
            self.last.setdefault(stream, 0)

    async def _follow_access(self) -> None:
        """Hear exactly the streams the person may hear now, without a reconnect."""
        async with self.moving:
            await self._follow_access_moving()

    async def _follow_access_moving(self) -> None:
        """_follow_access, with `moving` held by the caller."""
        streams = await _streams_for(self.user_id)
        if streams is None:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        wanted, had = set(streams), set(self.last)
        for stream in sorted(had - wanted):
            del self.last[stream]  # first: nothing more of it is sent, even during the discard
            await self.channel_layer.group_discard(stream, self.channel_name)
        added = sorted(wanted - had)
        heads, self.marks = await _store_call(live_heads_and_marks)(streams=sorted(wanted))
        for stream in added:
            # Its cursor before its subscription: an event that arrives meanwhile is measured
            # from the head (a gap is filled from the store), never from 0 (its whole history).
            self.last[stream] = heads[stream]
            await self.channel_layer.group_add(stream, self.channel_name)
        if added or had - wanted:
            await self._send({"type": "access_changed", "streams": dict(self.last)})

    async def signed_out(self) -> None:
        """The roll call found the person deactivated or the session ended (apps.live.rollcall)."""
        await self.close(code=CLOSE_SIGNED_OUT)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def _error(self, code: str, detail: str) -> None:
        await self._send({"type": "error", "code": code, "detail": detail})

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closing:
            # Frames the client sent before it saw the close still arrive; Daphne refuses
            # (and logs as a crash) anything sent on a socket it is closing.
            return
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))
