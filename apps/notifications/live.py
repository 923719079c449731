"""The live event store: what each stream (channel-layer group) was sent, numbered, for a
while, so that a websocket client that reconnects gets exactly what it missed.

A stream is one of the groups of apps.notifications.events (`user-<id>`, `queue-<id>`,
`role-<id>`). Recording an event gives it the next sequence number of every stream it is
addressed to; recording the same event again (the relay is at least once) returns the
numbers it already has, so a repeat is dropped by the sockets, never numbered twice.

Redis when settings.LIVE_REDIS_URL is set (every server process shares it); otherwise one
process's memory, which only the embedded default's single server may use.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

# A sequence counter outlives its stream's events by far: a client's "after 812" stays
# meaningful (too old, so refresh) instead of matching a restarted count.
_SEQ_TTL_SECONDS = 7 * 24 * 3600
# An access mark outlives any socket's memory of it; one that expired reads as 0, and the sockets
# that knew another number follow their access once more (harmless).
_ACCESS_MARK_TTL_SECONDS = 7 * 24 * 3600


def _sequence_base() -> int:
    """Where a stream's new counter starts: the time in milliseconds. A counter lost with the
    store's memory (Redis restarted empty, the embedded server restarted, a week unused)
    starts again above every number it gave before (unless the stream averaged more than a
    thousand events a second), so a client's old "after" reads as too old, gets a refresh,
    and never matches a number that now means another event."""
    return int(time.time() * 1000)


# ARGV: prefix, message id, body, max events, ttl, seq ttl, sequence base, then the streams.
# Returns a flat list: stream, seq, stream, seq, ...
_RECORD = """
local prefix, id, body = ARGV[1], ARGV[2], ARGV[3]
local maxlen, ttl, seqttl, base = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local known_key = prefix .. ':msg:' .. id
local known = redis.call('HGETALL', known_key)
if #known > 0 then return known end
local out = {}
for i = 8, #ARGV do
  local stream = ARGV[i]
  local seq_key = prefix .. ':seq:' .. stream
  if redis.call('SET', seq_key, base, 'NX') then
    redis.call('SET', prefix .. ':first:' .. stream, base + 1)
  end
  local seq = redis.call('INCR', seq_key)
  redis.call('EXPIRE', seq_key, seqttl)
  redis.call('EXPIRE', prefix .. ':first:' .. stream, seqttl)
  local log = prefix .. ':log:' .. stream
  redis.call('ZADD', log, seq, seq .. ' ' .. body)
  redis.call('ZREMRANGEBYRANK', log, 0, -(maxlen + 1))
  redis.call('EXPIRE', log, ttl)
  redis.call('HSET', known_key, stream, seq)
  out[#out + 1] = stream
  out[#out + 1] = seq
end
redis.call('EXPIRE', known_key, ttl)
return out
"""


@dataclass(frozen=True)
class Replay:
    """What a stream sent after a client's last sequence: the events in order, or
    `refresh` when they are no longer all kept (too old, too many, or the count restarted)."""

    events: list[dict[str, Any]]
    head: int
    refresh: bool = False


@dataclass(frozen=True)
class Kept:
    """What a store keeps of a stream after a sequence: up to limit + 1 of the events, the
    last number given out, the oldest kept, and the counter's first number."""

    events: list[tuple[int, str]]
    head: int
    oldest: int | None
    first: int | None


class _Store(Protocol):
    def record(self, *, message_id: int, body: str, streams: list[str]) -> dict[str, int]: ...
    def record_all(self, items: list[tuple[int, str, list[str]]]) -> list[dict[str, int]]: ...
    def heads(self, streams: list[str]) -> dict[str, int]: ...
    def heads_and_marks(self, streams: list[str]) -> tuple[dict[str, int], dict[str, int]]: ...
    def mark_access_changed(self, groups: list[str]) -> None: ...
    def since(self, stream: str, after: int, limit: int) -> Kept: ...
    def presence_touch(self, connections: list[tuple[int, str]], ttl: float) -> None: ...
    def presence_leave(self, user_id: int, connection: str) -> None: ...
    def online(self, user_ids: Iterable[int]) -> set[int]: ...


class _RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.script = self.client.register_script(_RECORD)

    def _record_args(self, message_id: int, body: str, streams: list[str]) -> list[Any]:
        return [
            self.prefix,
            message_id,
            body,
            settings.LIVE_STREAM_MAX_EVENTS,
            settings.LIVE_STREAM_TTL_SECONDS,
            _SEQ_TTL_SECONDS,
            _sequence_base(),
            *streams,
        ]

    @staticmethod
    def _recorded(flat: list[bytes]) -> dict[str, int]:
        return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    def record(self, *, message_id: int, body: str, streams: list[str]) -> dict[str, int]:
        return self._recorded(self.script(args=self._record_args(message_id, body, streams)))

    def record_all(self, items: list[tuple[int, str, list[str]]]) -> list[dict[str, int]]:
        """record() for each item, in order, in one round trip (a relay pass's events)."""
        if len(items) == 1:
            message_id, body, streams = items[0]
            return [self.record(message_id=message_id, body=body, streams=streams)]
        with self.client.pipeline(transaction=False) as pipe:
            for message_id, body, streams in items:
                self.script(args=self._record_args(message_id, body, streams), client=pipe)
            results = pipe.execute()
        return [self._recorded(flat) for flat in results]

    def heads(self, streams: list[str]) -> dict[str, int]:
        if not streams:
            return {}
        values = self.client.mget([f"{self.prefix}:seq:{stream}" for stream in streams])
        return {stream: int(value or 0) for stream, value in zip(streams, values, strict=True)}

    def heads_and_marks(self, streams: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        if not streams:
            return {}, {}
        keys = [f"{self.prefix}:seq:{stream}" for stream in streams]
        keys += [f"{self.prefix}:access:{stream}" for stream in streams]
        values = [int(value or 0) for value in self.client.mget(keys)]
        n = len(streams)
        return dict(zip(streams, values[:n], strict=True)), dict(zip(streams, values[n:], strict=True))

    def mark_access_changed(self, groups: list[str]) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.incr(f"{self.prefix}:access:{group}")
                pipe.expire(f"{self.prefix}:access:{group}", _ACCESS_MARK_TTL_SECONDS)
            pipe.execute()

    def since(self, stream: str, after: int, limit: int) -> Kept:
        log = f"{self.prefix}:log:{stream}"
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(log, f"({after}", "+inf", start=0, num=limit + 1, withscores=True)
            pipe.zrange(log, 0, 0, withscores=True)
            pipe.get(f"{self.prefix}:seq:{stream}")
            pipe.get(f"{self.prefix}:first:{stream}")
            found, oldest, head, first = pipe.execute()
        events = [(int(score), member.decode().partition(" ")[2]) for member, score in found]
        return Kept(
            events=events,
            head=int(head or 0),
            oldest=int(oldest[0][1]) if oldest else None,
            first=int(first) if first else None,
        )

    def presence_touch(self, connections: list[tuple[int, str]], ttl: float) -> None:
        now = time.time()
        with self.client.pipeline(transaction=False) as pipe:
            for user_id, connection in connections:
                key = f"{self.prefix}:online:{user_id}"
                pipe.zadd(key, {connection: now + ttl})
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.expire(key, int(ttl) + 1)
            pipe.execute()

    def presence_leave(self, user_id: int, connection: str) -> None:
        self.client.zrem(f"{self.prefix}:online:{user_id}", connection)

    def online(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(user_ids)
        now = time.time()
        with self.client.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.zcount(f"{self.prefix}:online:{user_id}", now, "+inf")
            counts = pipe.execute()
        return {user_id for user_id, count in zip(ids, counts, strict=True) if count}


class _MemoryStore:
    """The same contract in one process's memory (the embedded default)."""

    def record_all(self, items: list[tuple[int, str, list[str]]]) -> list[dict[str, int]]:
        return [self.record(message_id=m, body=body, streams=streams) for m, body, streams in items]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seq: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self.logs: dict[str, list[tuple[int, str, float]]] = {}
        self.known: dict[int, dict[str, int]] = {}
        self.presence: dict[int, dict[str, float]] = {}
        self.marks: dict[str, int] = {}

    def record(self, *, message_id: int, body: str, streams: list[str]) -> dict[str, int]:
        with self.lock:
            if message_id in self.known:
                return dict(self.known[message_id])
            now, out = time.monotonic(), {}
            for stream in streams:
                if stream not in self.seq:
                    self.seq[stream] = _sequence_base()
                    self.first[stream] = self.seq[stream] + 1
                seq = self.seq[stream] = self.seq[stream] + 1
                log = self.logs.setdefault(stream, [])
                log.append((seq, body, now))
                cutoff = now - settings.LIVE_STREAM_TTL_SECONDS
                del log[: max(len(log) - settings.LIVE_STREAM_MAX_EVENTS, 0)]
                while log and log[0][2] < cutoff:
                    log.pop(0)
                out[stream] = seq
            self.known[message_id] = out
            if len(self.known) > 10 * settings.LIVE_STREAM_MAX_EVENTS:
                for old in sorted(self.known)[: len(self.known) // 2]:
                    del self.known[old]
            return dict(out)

    def heads(self, streams: list[str]) -> dict[str, int]:
        with self.lock:
            return {stream: self.seq.get(stream, 0) for stream in streams}

    def heads_and_marks(self, streams: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        with self.lock:
            return (
                {stream: self.seq.get(stream, 0) for stream in streams},
                {stream: self.marks.get(stream, 0) for stream in streams},
            )

    def mark_access_changed(self, groups: list[str]) -> None:
        with self.lock:
            for group in groups:
                self.marks[group] = self.marks.get(group, 0) + 1

    def since(self, stream: str, after: int, limit: int) -> Kept:
        with self.lock:
            log = self.logs.get(stream, [])
            found = [(seq, body) for seq, body, _at in log if seq > after][: limit + 1]
            return Kept(
                events=found,
                head=self.seq.get(stream, 0),
                oldest=log[0][0] if log else None,
                first=self.first.get(stream),
            )

    def presence_touch(self, connections: list[tuple[int, str]], ttl: float) -> None:
        with self.lock:
            for user_id, connection in connections:
                self.presence.setdefault(user_id, {})[connection] = time.monotonic() + ttl

    def presence_leave(self, user_id: int, connection: str) -> None:
        with self.lock:
            self.presence.get(user_id, {}).pop(connection, None)

    def online(self, user_ids: Iterable[int]) -> set[int]:
        now = time.monotonic()
        with self.lock:
            return {pk for pk in user_ids if any(t > now for t in self.presence.get(pk, {}).values())}


_stores: dict[tuple[str, str], _Store] = {}
_stores_lock = threading.Lock()


def _store() -> _Store:
    key = (settings.LIVE_REDIS_URL, settings.LIVE_KEY_PREFIX)
    with _stores_lock:
        if key not in _stores:
            url, prefix = key
            _stores[key] = _RedisStore(url, prefix) if url else _MemoryStore()
        return _stores[key]


def live_event_body(*, message_id: int, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The event as a websocket frame carries it (without its stream and sequence): the
    receiver's copy of the payload never names the other groups it went to."""
    data = {key: value for key, value in payload.items() if key != "notify_groups"}
    return {"id": message_id, "topic": topic, "time": payload.get("occurred_at"), "data": data}


def live_record(*, message_id: int, topic: str, payload: dict[str, Any]) -> dict[str, int]:
    """Number the event in each stream it is addressed to; {stream: seq}. Idempotent."""
    return live_record_all([(message_id, topic, payload)])[0]


def live_record_all(events: list[tuple[int, str, dict[str, Any]]]) -> list[dict[str, int]]:
    """live_record for (message id, topic, payload) of several events, in order, in one round
    trip to the store."""
    found: list[dict[str, int]] = [{} for _ in events]
    items, positions = [], []
    for position, (message_id, topic, payload) in enumerate(events):
        streams = sorted({str(group) for group in payload.get("notify_groups", [])})
        if streams:
            body = json.dumps(live_event_body(message_id=message_id, topic=topic, payload=payload))
            items.append((message_id, body, streams))
            positions.append(position)
    if items:
        for position, streams in zip(positions, _store().record_all(items), strict=True):
            found[position] = streams
    return found


def live_event_frame(*, body: dict[str, Any], stream: str, seq: int) -> str:
    """The websocket frame (JSON text) of one event on one stream. The relay encodes it once
    per stream and every socket of the stream sends the same text: encoding it per socket
    was most of a 1,000-socket fan-out's cost beside the framing itself."""
    return json.dumps({"type": "event", **body, "stream": stream, "seq": seq}, separators=(",", ":"))


def live_heads(*, streams: list[str]) -> dict[str, int]:
    """The last sequence number each stream has given out (0 for a stream never used)."""
    return _store().heads(sorted(streams))


def live_heads_and_marks(*, streams: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Each stream's head (live_heads) and its access mark: a number that changes whenever
    the access of the people behind the stream changed (live_access_changed), in one round trip."""
    return _store().heads_and_marks(sorted(streams))


def live_access_changed(*, groups: list[str]) -> None:
    """Note in the store that who may hear what changed for the people behind `groups`: a
    socket whose control message about it was lost finds out at its server's next roll call
    (apps.live.rollcall), since the control message itself is delivered at most once."""
    _store().mark_access_changed(sorted(set(groups)))


def live_replay(*, stream: str, after: int, limit: int | None = None) -> Replay:
    """The events of `stream` numbered above `after`, in order, when they are all still kept
    and there are at most `limit`; otherwise Replay(refresh=True)."""
    limit = settings.LIVE_REPLAY_MAX_EVENTS if limit is None else limit
    kept = _store().since(stream, after, limit)
    found, head = kept.events, kept.head
    if after > head:
        return Replay(events=[], head=head, refresh=True)
    if after == head:
        return Replay(events=[], head=head)
    # The event after `after`: the next number, or, for a client that saw the stream before
    # it ever had an event (0), the counter's first.
    expected = after + 1 if after else kept.first
    complete = (
        kept.oldest is not None
        and expected is not None
        and kept.oldest <= expected
        and found
        and found[0][0] == expected
    )
    if not complete or len(found) > limit:
        return Replay(events=[], head=head, refresh=True)
    return Replay(
        events=[{**json.loads(body), "stream": stream, "seq": seq} for seq, body in found], head=head
    )


def live_presence_touch(*, connections: list[tuple[int, str]], ttl: float) -> None:
    """Each (user id, connection) is live for the next `ttl` seconds (renewed while it
    lasts); one round trip for all of a server process's connections."""
    if connections:
        _store().presence_touch(connections, ttl)


def live_presence_leave(*, user_id: int, connection: str) -> None:
    _store().presence_leave(user_id, connection)


def live_online(*, user_ids: Iterable[int]) -> set[int]:
    """Which of `user_ids` have a live connection now (they need no mail)."""
    return _store().online(user_ids)
