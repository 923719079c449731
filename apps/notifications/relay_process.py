"""The outbox relay as a process of its own: `manage.py outbox_relay`, with
OUTBOX_RELAY_NUDGE="notify" in the processes that write the outbox (PostgreSQL only).

A relay thread in every web and worker process took as much CPU as the requests it served
and, sharing their interpreter lock, held them up at every round trip to the database
(docs/adr/outbox-relay-process.md). Here the database wakes one process instead: the
outbox's statement trigger (migration 0003) queues a NOTIFY on `outbox_due`, delivered when
the writing transaction commits and never for one that rolls back. Commits that arrive while
a run is under way are served together by the next one, so under load a run carries the rows
of many requests in one SELECT and one UPDATE.

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

from apps.notifications.services import outbox_relay, relay_event_loop_own

logger = logging.getLogger(__name__)

# The channel the outbox's trigger notifies (apps/notifications/migrations/0003_outbox_due_notify.py).
OUTBOX_DUE_CHANNEL = "outbox_due"
# How operators (and tests) tell the listening connection in pg_stat_activity.
LISTENER_NAME = "outbox relay listener"
# How long one wait lasts at most, so that a stop request is seen this soon.
STOP_CHECK_SECONDS = 0.5


def _listener_connect() -> psycopg.Connection[Any]:
    """A connection of its own, in autocommit, listening on the outbox's channel."""
    params = connection.get_connection_params()
    # The ORM's cursor and adapters are not needed to listen.
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    params["application_name"] = LISTENER_NAME
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {OUTBOX_DUE_CHANNEL}")
    return listener


def _woken(listener: psycopg.Connection[Any], *, timeout: float) -> bool:
    """Wait up to `timeout` for a commit's notification, then take every other one already
    queued (they are all served by the same run); whether any came."""
    woken = any(True for _ in listener.notifies(timeout=timeout, stop_after=1))
    if woken:
        for _ in listener.notifies(timeout=0):
            pass
    return woken


def outbox_relay_serve(
    *, stop: threading.Event, poll_seconds: float, ready: threading.Event | None = None
) -> None:
    """Relay what is due, then again after every commit that writes outbox rows, until `stop`
    is set. Also every `poll_seconds` without a notification: rows whose time has come (a step's
    retry after its backoff) and notifications lost with a dropped connection are served then.
    Survives the database going away: it logs, waits and connects again. Its own connection
    stays open between runs, as the relay thread's does."""
    relay_event_loop_own()
    listener: psycopg.Connection[Any] | None = None
    try:
        while not stop.is_set():
            if listener is None:
                try:
                    listener = _listener_connect()
                except psycopg.Error as error:
                    logger.warning("outbox relay: cannot listen for commits (%s); retrying", error)
            # Listening first, then relaying: a commit in between is served by this run or wakes the next.
            try:
                outbox_relay()
            except Exception:
                logger.exception("outbox relay run failed; retrying")
                # A connection that failed is not used again; the next run opens a new one.
                connection.close()
                stop.wait(min(poll_seconds, 1.0))
                continue
            if ready is not None:
                ready.set()
            _wait_for_commit(listener, poll_seconds=poll_seconds, stop=stop)
            if listener is not None and listener.closed:
                listener = None
    finally:
        if listener is not None:
            listener.close()
        connection.close()


def _wait_for_commit(
    listener: psycopg.Connection[Any] | None, *, poll_seconds: float, stop: threading.Event
) -> None:
    deadline = time.monotonic() + poll_seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if listener is None:
            stop.wait(min(left, STOP_CHECK_SECONDS))
            continue
        try:
            if _woken(listener, timeout=min(left, STOP_CHECK_SECONDS)):
                return
        except psycopg.Error as error:
            logger.warning("outbox relay: lost the connection that listens for commits (%s)", error)
            listener.close()
            return
