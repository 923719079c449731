"""Per-connection flood control for websocket frames: a token bucket. Small and local on
purpose, so a shared (Redis) limiter can replace it behind the same two calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`burst` frames at once, refilled at `rate` per second."""

    burst: int
    rate: float
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.at = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        """Spend one token; False when the bucket is empty (the frame is refused)."""
        now = time.monotonic() if now is None else now
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def frame_bucket(*, burst: int, rate: float) -> TokenBucket:
    return TokenBucket(burst=burst, rate=rate)
