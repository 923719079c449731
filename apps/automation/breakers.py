"""One circuit breaker per external system (pybreaker), so a dead credit bureau does not
tie up every worker: after AUTOMATION_BREAKER_FAILURES transient failures in a row the
breaker opens and calls fail at once (as transient errors, so steps retry later); after
AUTOMATION_BREAKER_RESET_SECONDS one trial call goes through, and its success closes it.

The state lives in Redis (AUTOMATION_BREAKER_REDIS_URL) so every worker process shares it;
without Redis (the embedded default) each process keeps its own. A refusal (4xx) is not a
failure of the system and leaves the breaker alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
import redis
from django.conf import settings

from apps.automation.errors import PermanentAdapterError, TransientAdapterError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_breakers: dict[str, pybreaker.CircuitBreaker] = {}


def _storage(system: str) -> pybreaker.CircuitBreakerStorage:
    url = settings.AUTOMATION_BREAKER_REDIS_URL
    if url:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            return pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, client, namespace=f"breaker:{system}"
            )
        except redis.RedisError as error:
            logger.warning("breaker state for %s kept in this process: Redis unreachable (%s)", system, error)
    return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)


def breaker_for(system: str) -> pybreaker.CircuitBreaker:
    breaker = _breakers.get(system)
    if breaker is None:
        breaker = pybreaker.CircuitBreaker(
            fail_max=settings.AUTOMATION_BREAKER_FAILURES,
            reset_timeout=settings.AUTOMATION_BREAKER_RESET_SECONDS,
            exclude=[PermanentAdapterError],
            state_storage=_storage(system),
            name=system,
            throw_new_error_on_trip=False,
        )
        _breakers[system] = breaker
    return breaker


def breaker_call(system: str, call: Callable[..., T], *args: Any) -> T:
    """Call through the system's breaker; an open breaker is a transient failure."""
    try:
        return breaker_for(system).call(call, *args)
    except pybreaker.CircuitBreakerError:
        raise TransientAdapterError(f"circuit breaker for {system} is open: not calling it for now") from None


def breaker_state(system: str) -> str:
    return breaker_for(system).current_state


def breakers_forget() -> None:
    """Drop this process's breakers (their shared state in Redis stays); for tests and settings changes."""
    _breakers.clear()
