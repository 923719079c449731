"""Redis stopped for 30 s under load, heard from the far side: a team lead's websocket client
(it reconnects and resumes from the last sequence it saw, as static/js/live.js does) and a
webhook receiver subscribed to the orders. Redis comes back empty (no persistence), so the live
store's sequences start again: a client that cannot be replayed to gets a `refresh` and redraws.
Nothing may be missed: every event on the lead's queue reaches the socket as a frame or comes
before a refresh, and every acknowledged approval reaches the receiver, signed. Prints figures
like the other fault tests (README: Reliability)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from tests.celery_workers import wait_for
from tests.faults.harness import Load, approvals_client, ledger, recovery_after, report, stage  # noqa: F401
from tests.webhooks.receiver import receiver  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CLIENTS = 3
OUTAGE_SECONDS = 30
# A refresh covers what was committed before it (the client redraws from the database); allow
# the moment between an outbox row's created_at (inside its transaction) and the commit.
REFRESH_SLACK_SECONDS = 0.5
# Events sent in the client's last seconds may still be on their way when it stops listening.
LAST_FRAME_SLACK_SECONDS = 3.0


@dataclass
class SocketLog:
    """What the lead's websocket client heard."""

    stream: str
    heard: dict[int, float] = field(default_factory=dict)  # event id -> when
    refreshes: list[float] = field(default_factory=list)
    silent_gaps: list[tuple[int, int]] = field(default_factory=list)
    connections: int = 0
    first_resumed_at: float | None = None
    seqs: dict[int, int] = field(default_factory=dict)  # event id -> its sequence number
    closes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def closed(self, why: str) -> None:
        with self.lock:
            self.closes[why] = self.closes.get(why, 0) + 1


def socket_client(stage, n, stats, *, url: str, key: str, log: SocketLog) -> None:  # noqa: F811
    after: dict[str, int] | None = None  # None: from now, on the first connection
    while not stats.stopping.is_set():
        try:
            with connect(
                url, additional_headers={"Authorization": f"Api-Key {key}"}, open_timeout=5, close_timeout=2
            ) as socket:
                hello = json.loads(socket.recv(timeout=10))
                assert hello["type"] == "hello", hello
                socket.send(json.dumps({"type": "resume", "after": after}))
                log.connections += 1
                expected: int | None = None
                while not stats.stopping.is_set():
                    try:
                        frame = json.loads(socket.recv(timeout=1))
                    except TimeoutError:
                        continue
                    now = time.monotonic()
                    if frame["type"] == "resumed":
                        if log.first_resumed_at is None:
                            log.first_resumed_at = now
                        after = dict(frame["streams"])
                        # A stream with no event yet (0) starts where its counter starts
                        # (docs/live.md): its first number is not known in advance.
                        head = after.get(log.stream, 0)
                        expected = head + 1 if head else None
                    elif frame["type"] == "refresh" and frame["stream"] == log.stream:
                        log.refreshes.append(now)  # the page redraws from the server
                        expected = None
                    elif frame["type"] == "event" and frame["stream"] == log.stream:
                        if expected is not None and frame["seq"] != expected:
                            log.silent_gaps.append((expected, frame["seq"]))
                        expected = frame["seq"] + 1
                        log.heard.setdefault(frame["id"], now)
                        log.seqs[frame["id"]] = frame["seq"]
                        if after is not None:
                            after[log.stream] = frame["seq"]
        except ConnectionClosed as closed:
            log.closed(f"close {closed.rcvd.code if closed.rcvd else 'none'}")
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            log.closed(type(exc).__name__)
        time.sleep(0.5)


def test_redis_stopped_for_30_seconds_sockets_and_webhooks_miss_nothing(stage, receiver):  # noqa: F811
    shared_redis = {"CHANNEL_LAYER_REDIS_URL": stage.redis.url, "LIVE_REDIS_URL": stage.redis.url}
    [web] = stage.web.start(1, **shared_redis)
    worker = stage.workers.start("w1", concurrency=2, supervised=True, **shared_redis)
    requester = {"Authorization": f"Api-Key {stage.keys['requester']}"}
    subscribed = httpx.post(
        f"{web.url}/api/v1/webhook-endpoints/",
        json={"url": receiver.url, "event_types": ["instance.transitioned"]},
        headers=requester,
        timeout=10,
    )
    assert subscribed.status_code == 201, subscribed.text
    secret = subscribed.json()["secret"]
    [(queue_id,)] = stage.sql("SELECT id FROM humantasks_queue WHERE slug = 'team-leads'")
    log = SocketLog(stream=f"queue-{queue_id}")
    socket = partial(
        socket_client, url=web.url.replace("http", "ws") + "/ws/inbox/", key=stage.keys["lead"], log=log
    )
    approvals = partial(approvals_client, url_of=lambda n: web.url)
    load = Load(stage, [socket] + [approvals] * CLIENTS).start()
    wait_for(lambda: log.heard, timeout=60, what="the socket to hear a first event")
    time.sleep(3)

    stage.redis.stop()
    outage_started = time.monotonic()
    during = sum(load.stats.answers.values())
    time.sleep(OUTAGE_SECONDS)
    answered_during_outage = sum(load.stats.answers.values()) - during
    stage.redis.start()
    back_at = time.monotonic()
    time.sleep(8)
    stopped_at = time.monotonic()
    stats = load.stop()

    waiting = "SELECT count(*) FROM notifications_outboxmessage WHERE dispatched_at IS NULL"
    recovery = recovery_after(stats, back_at, lambda: stage.sql(waiting)[0][0] == 0, timeout=120)
    pending = "SELECT count(*) FROM webhooks_webhookdelivery WHERE state <> 'succeeded'"
    webhooks_done = recovery_after(stats, back_at, lambda: stage.sql(pending)[0][0] == 0, timeout=120)

    # The socket: every event on the lead's queue was heard, or came before a refresh.
    [(db_now,)] = stage.sql("SELECT extract(epoch FROM now())::float8")
    offset = time.monotonic() - db_now  # monotonic = epoch + offset, on this machine
    sent = [
        (event_id, created.timestamp() + offset, dispatched.timestamp() + offset)
        for event_id, created, dispatched in stage.sql(
            "SELECT id, created_at, dispatched_at FROM notifications_outboxmessage "
            "WHERE payload->'notify_groups' ? %s AND dispatched_at IS NOT NULL",
            log.stream,
        )
    ]
    missed = [
        (event_id, round(created - back_at, 1), round(at - back_at, 1))
        for event_id, created, at in sent
        if event_id not in log.heard
        and at > log.first_resumed_at  # the first connection starts from then
        # A refresh covers what was committed before it: the client redraws from the database.
        # Not dispatched_at: the relay stamps it after its whole pass, which after the outage
        # carries seconds of backlog, so a row published before the refresh looked sent after it.
        and not any(created <= refresh + REFRESH_SLACK_SECONDS for refresh in log.refreshes)
        # Sent as the client stopped (or after): nobody was there to hear it.
        and at < stopped_at - LAST_FRAME_SLACK_SECONDS
    ]

    # The receiver: every acknowledged approval arrived signed (at least once).
    approved_by_webhook: set[str] = set()
    for request in receiver.received():
        payload = Webhook(secret).verify(request.body, request.headers)
        if payload["data"]["to_state"] == "approved":
            approved_by_webhook.add(str(payload["data"]["instance"]))
    approved = {ident for what, ident in stats.acknowledged if what == "approved"}
    webhooks_missing = approved - approved_by_webhook

    figures = ledger(stage, stats)
    figures.update(
        {
            "answered during the outage": answered_during_outage,
            "queue events sent": len(sent),
            "heard by the socket": len(log.heard),
            "refreshes": len(log.refreshes),
            "socket connections": log.connections,
            "socket closes": dict(log.closes),
            "events missed": len(missed),
            "silent sequence gaps": len(log.silent_gaps),
            "webhook requests": len(receiver.received()),
            "approvals without webhook": len(webhooks_missing),
            "webhooks all delivered after": f"{webhooks_done:.1f}s",
            "worker restarts": worker.restarts,
        }
    )
    report(f"redis stopped {OUTAGE_SECONDS}s (sockets, webhooks)", stats, figures, recovery)
    assert figures["rows lost"] == 0 and figures["duplicate transitions"] == 0, figures
    assert figures["half-written"] == 0, figures
    assert answered_during_outage > 0
    assert not webhooks_missing, webhooks_missing
    assert approved, "the load must have approved something"
    assert not worker.unrecoverable_errors(), worker.unrecoverable_errors()
    assert outage_started < back_at
    # Redis came back empty: the live store's counters start again above every number they
    # gave (apps/notifications/live.py), so the socket is told to refresh, never fed the wrong
    # events as the ones after its cursor.
    assert not missed and not log.silent_gaps, (
        f"the socket missed {missed} (sequence gaps {log.silent_gaps}); heard {sorted(log.seqs.items())}"
    )
