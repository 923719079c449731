"""The outbox relay as a process of its own: `manage.py outbox_relay`, with
OUTBOX_RELAY_NUDGE="notify" in the processes that write the outbox (PostgreSQL only).

A relay thread in every web and worker process took as much CPU as the requests it served
and, sharing their interpreter lock, held them up at every round trip to the database
(docs/adr/outbox-relay-process.md). Here the database wakes one process instead: the
outbox's statement trigger (migration 0003) queues a NOTIFY on `outbox_due`, delivered when
the writing transaction commits and never for one that rolls back. Commits that arrive while
a run is under way are served together by the next one, and a relay woken soon after its last
run (under load) first gathers the commits of the next few milliseconds, so a run carries the
rows of many requests in one SELECT and one UPDATE; an idle relay runs at once.

Several relay processes may run (the relay's SKIP LOCKED keeps each instance's rows in
order); beat's sweep still sends whatever they miss, so a relay that is down delays events
by the sweep's interval and loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from django.db import connection

from apps.notifications.services import MAX_PASSES, RELAY_PASS_LIMIT, outbox_relay, relay_event_loop_own

logger = logging.getLogger(__name__)

# The channel the outbox's trigger notifies (apps/notifications/migrations/0003_outbox_due_notify.py).
OUTBOX_DUE_CHANNEL = "outbox_due"
# How operators (and tests) tell the listening connection in pg_stat_activity.
LISTENER_NAME = "outbox relay listener"
# How long one wait lasts at most, so that a stop request is seen this soon.
STOP_CHECK_SECONDS = 0.5
# How often a relay that cannot listen tries again (it relays at once when it can).
RECONNECT_SECONDS = 1.0
# A run that sent this many rows stopped at its cap with more probably waiting (a backlog
# left by an outage): the next run starts at once rather than at the next commit or poll.
FULL_RUN = MAX_PASSES * RELAY_PASS_LIMIT
# A wake this soon after the previous run means commits are arriving faster than runs take:
# the relay then gathers for `gather_seconds` before running, so that one run's fixed cost (a
# SELECT, an UPDATE, a commit, a round trip to the live store) is shared by several commits.
BUSY_SECONDS = 0.1
# TCP keepalives on the listening connection: a half-open connection (a network partition, a
# failover) is noticed by the kernel, not only by the health check at each poll.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def _listener_connect() -> psycopg.Connection[Any]:
    """A connection of its own, in autocommit, listening on the outbox's channel."""
    params = connection.get_connection_params()
    # The ORM's cursor and adapters are not needed to listen.
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    params["application_name"] = LISTENER_NAME
    listener = psycopg.connect(**{**KEEPALIVES, **params}, autocommit=True)
    try:
        listener.execute(f"LISTEN {OUTBOX_DUE_CHANNEL}")
    except BaseException:
        listener.close()
        raise
    return listener


def _listener_try_connect() -> psycopg.Connection[Any] | None:
    try:
        return _listener_connect()
    except psycopg.Error as error:
        logger.warning("outbox relay: cannot listen for commits (%s); retrying", error)
        return None


def _woken(listener: psycopg.Connection[Any], *, timeout: float) -> bool:
    """Wait up to `timeout` for a commit's notification, then take every other one already
    queued (they are all served by the same run); whether any came."""
    woken = any(True for _ in listener.notifies(timeout=timeout, stop_after=1))
    if woken:
        _notifies_take(listener, for_seconds=0)
    return woken


def _notifies_take(listener: psycopg.Connection[Any], *, for_seconds: float) -> None:
    """Take the notifications that come within `for_seconds` (all served by the next run)."""
    for _ in listener.notifies(timeout=for_seconds):
        pass


def outbox_relay_serve(
    *,
    stop: threading.Event,
    poll_seconds: float,
    gather_seconds: float = 0.0,
    ready: threading.Event | None = None,
) -> None:
    """Relay what is due, then again after every commit that writes outbox rows, until `stop`
    is set; woken within BUSY_SECONDS of its last run, it first gathers the commits of the
    next `gather_seconds`. Also every `poll_seconds` without a notification: rows whose time has
    come (a step's retry after its backoff) and notifications lost with a dropped connection are
    served then.
    Survives the database going away: it logs, tries to listen again every second and relays as
    soon as it listens. Its own connection stays open between runs, as the relay thread's does."""
    relay_event_loop_own()
    listener = _listener_try_connect()
    try:
        while not stop.is_set():
            # Listening first, then relaying: a commit in between is served by this run or wakes the next.
            try:
                sent = outbox_relay()
            except Exception:
                logger.exception("outbox relay run failed; retrying")
                # A connection that failed is not used again; the next run opens a new one.
                connection.close()
                stop.wait(min(poll_seconds, RECONNECT_SECONDS))
                continue
            if ready is not None:
                ready.set()
            if sent >= FULL_RUN:
                continue
            listener = _wait_for_commit(
                listener, poll_seconds=poll_seconds, gather_seconds=gather_seconds, stop=stop
            )
    finally:
        if listener is not None:
            listener.close()
        connection.close()


def _wait_for_commit(
    listener: psycopg.Connection[Any] | None,
    *,
    poll_seconds: float,
    stop: threading.Event,
    gather_seconds: float = 0.0,
) -> psycopg.Connection[Any] | None:
    """Wait for a commit's notification, the poll's deadline or `stop`; the listener to use
    next (None while the database cannot be reached)."""
    last_run = time.monotonic()
    deadline = last_run + poll_seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if listener is None:
            stop.wait(max(0.0, min(left, RECONNECT_SECONDS)))
            listener = _listener_try_connect()
            if listener is not None:
                return listener  # commits made while nobody listened are served by the next run
            if left <= RECONNECT_SECONDS:
                return None
            continue
        if left <= 0:
            return _listener_checked(listener)
        try:
            if _woken(listener, timeout=min(left, STOP_CHECK_SECONDS)):
                if gather_seconds and time.monotonic() - last_run < BUSY_SECONDS:
                    _notifies_take(listener, for_seconds=gather_seconds)
                return listener
        except psycopg.Error as error:
            logger.warning("outbox relay: lost the connection that listens for commits (%s)", error)
            listener.close()
            return None
    return listener


def _listener_checked(listener: psycopg.Connection[Any]) -> psycopg.Connection[Any] | None:
    """The listener if it still answers (a connection can die silently: nothing then arrives,
    and the relay would fall back to polling unnoticed), else None."""
    try:
        listener.execute("SELECT 1")
    except psycopg.Error as error:
        logger.warning("outbox relay: the connection that listens for commits stopped answering (%s)", error)
        listener.close()
        return None
    return listener
