"""Limits on failed sign-ins, per account and address and per address alone.

Counts live in the "sign-in" cache (Redis when REDIS_URL is set, so every web process
shares them). django-axes does this too, but it needs the request on every authenticate()
call and a table of attempts; a counter with a time window is all the password form needs.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import caches


def _cache():  # noqa: ANN202 (Django's cache handle)
    return caches["sign-in"]


def _keys(*, username: str, address: str) -> tuple[str, str]:
    account = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()
    return f"fail:account:{account}", f"fail:address:{address}"


def sign_in_blocked(*, username: str, address: str) -> bool:
    account_key, address_key = _keys(username=username, address=address)
    counts = _cache().get_many([account_key, address_key])
    return (
        counts.get(account_key, 0) >= settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT
        or counts.get(address_key, 0) >= settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS
    )


def sign_in_failed(*, username: str, address: str) -> None:
    cache = _cache()
    for key in _keys(username=username, address=address):
        # The window starts at the first failure; add() is a no-op when the key exists.
        cache.add(key, 0, timeout=settings.SIGN_IN_FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=settings.SIGN_IN_FAILURE_WINDOW_SECONDS)


def sign_in_succeeded(*, username: str, address: str) -> None:
    account_key, _address_key = _keys(username=username, address=address)
    _cache().delete(account_key)
