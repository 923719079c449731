"""The sliding-window limiter: the same answers from Redis (one Lua round trip) and from a
process's own windows; atomic when many threads hit one key at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.core.rate_limits import (
    RateLimit,
    rate_limit_hit,
    rate_limit_peek,
    rate_limit_release,
    rate_limit_reset,
    rate_limits_hit,
    rate_limits_reset_process,
    websocket_frame_admit,
)
from config.env import env


@pytest.fixture(params=["process", "redis"])
def store(request, settings):
    if request.param == "redis":
        if env.bool("TEST_REDIS_UNAVAILABLE", default=False):
            pytest.skip("Redis is unreachable")
        settings.RATE_LIMIT_REDIS_URL = settings.TEST_REDIS_URL
    rate_limits_reset_process()
    yield request.param
    for key in ("t", "t2"):
        rate_limit_reset(key=key)


@pytest.mark.parametrize(
    ("rate", "limit"),
    [
        ("600/minute", RateLimit(600, 60)),
        ("20/min", RateLimit(20, 60)),
        ("5/s", RateLimit(5, 1)),
        ("100/hour", RateLimit(100, 3600)),
        ("1000/day", RateLimit(1000, 86400)),
        ("10/30s", RateLimit(10, 30)),
    ],
)
def test_rates_read_as_drf_writes_them(rate, limit):
    assert RateLimit.parse(rate) == limit


@pytest.mark.parametrize("rate", ["", "ten/minute", "5/fortnight", "5"])
def test_a_malformed_rate_is_refused(rate):
    with pytest.raises(ValueError, match="not a rate"):
        RateLimit.parse(rate)


def test_the_window_admits_its_limit_then_says_how_long_to_wait(store):
    limit = RateLimit(3, 60)
    decisions = [rate_limit_hit(key="t", limit=limit) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 59 < decisions[-1].retry_after <= 60
    assert not rate_limit_peek(key="t", limit=limit).allowed


def test_a_released_hit_frees_its_slot_and_the_window_slides(store):
    limit = RateLimit(2, 0.5)
    first = rate_limit_hit(key="t", limit=limit)
    rate_limit_hit(key="t", limit=limit)
    assert not rate_limit_hit(key="t", limit=limit).allowed
    rate_limit_release(key="t", token=first.token)
    assert rate_limit_hit(key="t", limit=limit).allowed
    time.sleep(0.6)
    assert rate_limit_peek(key="t", limit=limit).remaining == 2


def test_many_threads_at_once_get_exactly_the_limit(store):
    limit = RateLimit(25, 60)
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(lambda _n: rate_limit_hit(key="t", limit=limit).allowed, range(200)))
    assert allowed.count(True) == 25


def test_websocket_frames_have_their_own_limit(settings):
    settings.WEBSOCKET_FRAME_RATE = "2/minute"
    assert [websocket_frame_admit(client="user:1").allowed for _ in range(3)] == [True, True, False]
    assert websocket_frame_admit(client="user:2").allowed


def test_several_windows_in_one_call_count_as_separate_limits(store):
    roomy, tight = RateLimit(5, 60), RateLimit(2, 30)
    windows = [("t", roomy), ("t2", tight)]
    decisions = [rate_limits_hit(windows=windows) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    # The least room left of the two, then the tighter window's wait.
    assert [d.remaining for d in decisions[:2]] == [1, 0]
    assert 29 < decisions[-1].retry_after <= 30
    # The refused hit still counted in the window that had room, as a separate throttle's
    # would: the roomy window has two slots left, not three.
    assert [rate_limit_hit(key="t", limit=roomy).allowed for _ in range(3)] == [True, True, False]


def test_several_windows_under_many_threads_admit_exactly_the_tightest_limit(store):
    windows = [("t", RateLimit(100, 60)), ("t2", RateLimit(20, 60))]
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(lambda _: rate_limits_hit(windows=windows), range(60)))
    assert sum(d.allowed for d in decisions) == 20
    # Every hit counted in the roomy window (60 of 100), as with two throttles.
    assert rate_limit_peek(key="t", limit=RateLimit(61, 60)).allowed
    assert not rate_limit_peek(key="t", limit=RateLimit(60, 60)).allowed
