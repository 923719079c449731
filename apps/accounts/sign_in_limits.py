"""Limits on password sign-ins, per account and address and per address alone.

Each attempt takes a slot in two sliding windows (apps.core.rate_limits: atomic in Redis,
so every web process shares them and concurrent guesses cannot slip past the check
together). A failed attempt keeps its slots; a successful one clears its account's window
and gives its address slot back, so people signing in from one office address do not pause
each other. django-axes does this too, but it needs a table of attempts; a counter with a
window is all the password form needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings

from apps.core.rate_limits import (
    RateLimit,
    rate_limit_hit,
    rate_limit_peek,
    rate_limit_release,
    rate_limit_reset,
)


def _limits() -> tuple[RateLimit, RateLimit]:
    window = settings.SIGN_IN_FAILURE_WINDOW_SECONDS
    return (
        RateLimit(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT, window),
        RateLimit(settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS, window),
    )


def _keys(*, username: str, address: str) -> tuple[str, str]:
    # The username is hashed: the limiter's store need not hold who tried to sign in.
    account = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()
    return f"sign-in:account:{account}", f"sign-in:address:{address}"


@dataclass(frozen=True)
class SignInAttempt:
    """The slots one attempt holds, to give back when it succeeds."""

    account_key: str
    address_key: str
    address_token: str


def sign_in_blocked(*, username: str, address: str) -> bool:
    """Would an attempt for this account from this address be refused now? Records nothing."""
    account_limit, address_limit = _limits()
    account_key, address_key = _keys(username=username, address=address)
    return not (
        rate_limit_peek(key=account_key, limit=account_limit).allowed
        and rate_limit_peek(key=address_key, limit=address_limit).allowed
    )


def sign_in_attempt_begin(*, username: str, address: str) -> SignInAttempt | None:
    """Take this attempt's slots, or None (and take nothing) when either window is full."""
    account_limit, address_limit = _limits()
    account_key, address_key = _keys(username=username, address=address)
    by_address = rate_limit_hit(key=address_key, limit=address_limit)
    if not by_address.allowed:
        return None
    by_account = rate_limit_hit(key=account_key, limit=account_limit)
    if not by_account.allowed:
        rate_limit_release(key=address_key, token=by_address.token)
        return None
    return SignInAttempt(account_key, address_key, by_address.token)


def sign_in_attempt_succeeded(attempt: SignInAttempt) -> None:
    """The password was right: the account's failures are forgotten, the address slot returned."""
    rate_limit_reset(key=attempt.account_key)
    rate_limit_release(key=attempt.address_key, token=attempt.address_token)
