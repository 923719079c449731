"""Sliding-window rate limits shared by every process, in one Redis round trip.

A limit is "N hits per window". `rate_limit_hit` records a hit if the window has room and
says how long to wait otherwise; the check and the write are one Lua script run by Redis
(`register_script`), so two processes can never both take the last slot, which a
read-check-write through a cache cannot promise. Each key is a sorted set of its hits'
times, by Redis's own clock (`TIME`), so web processes with drifting clocks agree.

Without RATE_LIMIT_REDIS_URL (the embedded default, or the tests) each process keeps its
own windows in memory. When Redis is configured but unreachable, the process falls back to
its own windows for a few seconds at a time rather than refusing every request or letting
every request through: a limit must not take the service down, nor vanish with Redis.

Callers: the API's throttles (apps/api/throttles.py), the password sign-in limits
(apps/accounts/sign_in_limits.py) and websocket frames (`websocket_frame_admit`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis
from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "rate-limit:"
# After Redis fails, this many seconds go by on the per-process windows before trying it again,
# so an outage costs one failed connection per process per pause, not one per request.
REDIS_RETRY_PAUSE_SECONDS = 2.0

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_PERIODS |= {"d": 86400, "day": 86400}

# KEYS[1]: the window's sorted set. ARGV: limit, window (ms), this hit's member, consume (1|0).
# Returns {allowed (1|0), remaining, retry after (ms)}.
_SLIDING_WINDOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if ARGV[4] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
  end
  return {1, limit - count, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, 0, retry}
"""


# Several windows in one round trip (the API's per-client and per-user limits), each as the
# one-window script does it: a window with room records the hit, a full one refuses it, as
# separate throttles would. KEYS: the windows' sorted sets. ARGV: this hit's member, then a
# limit and a window (ms) per key. Returns {allowed (1 when every window had room), remaining
# (the least of them), retry after (ms, the longest wait)}.
_SLIDING_WINDOWS = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local allowed, retry, remaining = 1, 0, nil
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[1 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then
    redis.call('ZADD', key, now, ARGV[1])
    redis.call('PEXPIRE', key, window)
    if remaining == nil or limit - count - 1 < remaining then remaining = limit - count - 1 end
  else
    allowed = 0
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    if wait > retry then retry = wait end
  end
end
if allowed == 0 then return {0, 0, retry} end
return {1, remaining or 0, 0}
"""


@dataclass(frozen=True)
class RateLimit:
    """`limit` hits in any `window_seconds`."""

    limit: int
    window_seconds: float

    @classmethod
    def parse(cls, rate: str) -> RateLimit:
        """ "600/minute", "20/min", "5/s", "100/hour", "1000/day" (DRF's notation), or
        "10/30s" for a window of 30 seconds."""
        count, _, period = rate.strip().partition("/")
        digits = "".join(ch for ch in period if ch.isdigit())
        unit = period[len(digits) :].strip().lower()
        if unit not in _PERIODS or not count.strip().isdigit():
            raise ValueError(f"not a rate: {rate!r} (expected e.g. '600/minute')")
        return cls(limit=int(count), window_seconds=float(int(digits or 1) * _PERIODS[unit]))


@dataclass(frozen=True)
class Decision:
    """The answer to one hit. `retry_after` is in seconds (0 when allowed); `token` names the
    hit recorded, for `rate_limit_release`."""

    allowed: bool
    remaining: int
    retry_after: float
    token: str = ""


class _LocalWindows:
    """The per-process stand-in for Redis: the same sliding windows, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[tuple[float, str]]] = {}

    def hit(self, key: str, limit: RateLimit, token: str, *, consume: bool) -> Decision:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0][0] <= now - limit.window_seconds:
                hits.popleft()
            if len(hits) < limit.limit:
                if consume:
                    hits.append((now, token))
                return Decision(True, limit.limit - len(hits), 0.0, token if consume else "")
            if not hits:  # a limit of 0
                return Decision(False, 0, limit.window_seconds)
            return Decision(False, 0, max(0.0, hits[0][0] + limit.window_seconds - now))

    def hit_all(self, windows: list[tuple[str, RateLimit]], token: str) -> Decision:
        """One hit against each window, as hit() would record it in each."""
        decisions = [self.hit(key, limit, token, consume=True) for key, limit in windows]
        if all(d.allowed for d in decisions):
            return Decision(True, min(d.remaining for d in decisions), 0.0, token)
        return Decision(False, 0, max(d.retry_after for d in decisions if not d.allowed))

    def release(self, key: str, token: str) -> None:
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                self._hits[key] = deque(hit for hit in hits if hit[1] != token)

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._hits.clear()
            else:
                self._hits.pop(key, None)


_local = _LocalWindows()
_clients: dict[str, tuple[redis.Redis, object, object]] = {}
_clients_lock = threading.Lock()
_redis_failed_at = 0.0


def _redis() -> tuple[redis.Redis, object, object] | None:
    """The client and registered scripts (one window, several) for RATE_LIMIT_REDIS_URL, or None
    to use this process's own windows (no Redis configured, or it failed moments ago)."""
    url = getattr(settings, "RATE_LIMIT_REDIS_URL", "")
    if not url or time.monotonic() - _redis_failed_at < REDIS_RETRY_PAUSE_SECONDS:
        return None
    with _clients_lock:
        if url not in _clients:
            # Short timeouts: a limit is asked on every request and must never hold one up for long.
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _clients[url] = (
                client,
                client.register_script(_SLIDING_WINDOW),
                client.register_script(_SLIDING_WINDOWS),
            )
        return _clients[url]


def _redis_failed(exc: Exception) -> None:
    global _redis_failed_at
    _redis_failed_at = time.monotonic()
    logger.warning("rate-limit Redis unavailable (%s); this process limits on its own for now", exc)


def _hit(key: str, limit: RateLimit, *, consume: bool) -> Decision:
    token = uuid.uuid4().hex
    found = _redis()
    if found is not None:
        _client, script, _windows = found
        window_ms = max(1, int(limit.window_seconds * 1000))
        try:
            allowed, remaining, retry_ms = script(  # type: ignore[operator]
                keys=[KEY_PREFIX + key], args=[limit.limit, window_ms, token, 1 if consume else 0]
            )
        except redis.RedisError as exc:
            _redis_failed(exc)
        else:
            return Decision(bool(allowed), int(remaining), int(retry_ms) / 1000, token if consume else "")
    return _local.hit(key, limit, token, consume=consume)


def rate_limit_hit(*, key: str, limit: RateLimit) -> Decision:
    """Record one hit on `key` if its window has room (allowed), else refuse it with the seconds
    until the oldest hit leaves the window. Atomic across every process sharing the Redis."""
    return _hit(key, limit, consume=True)


def rate_limits_hit(*, windows: list[tuple[str, RateLimit]]) -> Decision:
    """One hit against several (key, limit) windows in one round trip, as rate_limit_hit on
    each: every window with room records it; allowed only when all had room, otherwise with
    the longest wait. `remaining` is the least room left. Atomic across every process
    sharing the Redis."""
    token = uuid.uuid4().hex
    if not windows:
        return Decision(True, 0, 0.0, token)
    found = _redis()
    if found is not None:
        _client, _script, script = found
        args: list[object] = [token]
        for _key, limit in windows:
            args += [limit.limit, max(1, int(limit.window_seconds * 1000))]
        try:
            allowed, remaining, retry_ms = script(  # type: ignore[operator]
                keys=[KEY_PREFIX + key for key, _limit in windows], args=args
            )
        except redis.RedisError as exc:
            _redis_failed(exc)
        else:
            return Decision(bool(allowed), int(remaining), int(retry_ms) / 1000, token if allowed else "")
    return _local.hit_all(windows, token)


def rate_limit_peek(*, key: str, limit: RateLimit) -> Decision:
    """Would a hit on `key` be allowed now? Records nothing."""
    return _hit(key, limit, consume=False)


def rate_limit_release(*, key: str, token: str) -> None:
    """Give back one recorded hit (e.g. a sign-in attempt that turned out to succeed)."""
    if not token:
        return
    found = _redis()
    if found is not None:
        try:
            found[0].zrem(KEY_PREFIX + key, token)
            return
        except redis.RedisError as exc:
            _redis_failed(exc)
    _local.release(key, token)


def rate_limit_reset(*, key: str) -> None:
    """Forget every hit on `key`."""
    found = _redis()
    if found is not None:
        try:
            found[0].delete(KEY_PREFIX + key)
        except redis.RedisError as exc:
            _redis_failed(exc)
    _local.reset(key)


def rate_limits_reset_process() -> None:
    """Forget this process's own windows and any memory of a Redis failure (tests)."""
    global _redis_failed_at
    _redis_failed_at = 0.0
    _local.reset()


def websocket_frame_admit(*, client: str) -> Decision:
    """One frame from a websocket `client` (e.g. f"user:{user.pk}" or a connection's channel
    name) against WEBSOCKET_FRAME_RATE. A consumer drops (or answers with an error and closes
    on) a frame that is not allowed; `retry_after` says for how long."""
    return rate_limit_hit(key=f"ws:{client}", limit=RateLimit.parse(settings.WEBSOCKET_FRAME_RATE))


# For async consumers: the Redis call runs in a worker thread, never on the event loop.
websocket_frame_admit_async = sync_to_async(websocket_frame_admit, thread_sensitive=False)
