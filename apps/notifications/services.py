"""The transactional outbox: rows written with the change that causes them, dispatched
after commit by one relay that both the on-commit nudge and beat's sweep call.

Dispatch is at least once (a relay that dies after publishing and before committing sends
the row again), so every consumer is idempotent: automated steps by their StepRun key,
notifications by the message id they carry.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core import transactions
from apps.core.compiled import STAND_IN_ID, rows_compiled
from apps.notifications.models import OutboxMessage
from apps.notifications.sinks import Event, sinks

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance

logger = logging.getLogger(__name__)

# The Celery job that carries each topic; every other topic is an event for people and systems.
TOPIC_JOBS = {
    "automation.step": "apps.automation.jobs.automated_step_job",
    "oversight.chain_verification": "apps.oversight.jobs.chain_verification_job",
}
EVENT_JOB = "apps.notifications.jobs.notification_deliver_job"
PEOPLE_JOB = "apps.notifications.jobs.notifications_for_people_job"
EMAIL_JOB = "apps.notifications.jobs.notifications_email_job"
# A relay run stops after this many passes; the next nudge or sweep carries on.
MAX_PASSES = 20


def outbox_put(
    *,
    topic: str,
    payload: dict[str, Any],
    instance: WorkflowInstance | None = None,
    available_at: datetime | None = None,
) -> OutboxMessage:
    """Write one row in the caller's transaction; the relay is nudged once it commits.

    Rows of an instance must be written while its row is locked, so that id order is
    commit order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_put must run inside the transaction of the change it announces")
    now = timezone.now()
    message = OutboxMessage(
        topic=topic, payload=payload, instance=instance, created_at=now, available_at=available_at or now
    )
    # With the service's other rows where it batches them (apps.core.transactions.atomic_batched).
    transactions.rows_insert([message])
    if message.available_at <= now:
        _relay_nudge_on_commit(instance_id=instance.pk if instance else None)
    return message


def _relay_nudge_on_commit(*, instance_id: int | None) -> None:
    """One nudge per instance per transaction, however many rows it writes: a change that
    writes an event and a step would otherwise run the relay twice after its commit."""
    if settings.OUTBOX_RELAY_NUDGE == "notify":
        # The database wakes the relay process itself when the rows commit (the outbox's
        # trigger queues a NOTIFY; apps/notifications/relay_process.py): nothing to do here.
        return
    connection = transaction.get_connection()
    current = set(connection.savepoint_ids)
    for savepoints, callback, _robust in connection.run_on_commit:
        # Registered in this scope or an enclosing one: it survives unless this write is
        # rolled back with it.
        if getattr(callback, "outbox_instance_id", False) == instance_id and savepoints <= current:
            return
    nudge = partial(_relay_nudge, instance_id=instance_id)
    nudge.outbox_instance_id = instance_id  # type: ignore[attr-defined]
    transaction.on_commit(nudge)


def _relay_nudge(*, instance_id: int | None) -> None:
    # Runs after the caller's commit: it must never fail the request or job that committed.
    if settings.OUTBOX_RELAY_NUDGE == "thread":
        _background_relay.nudge(instance_id)
        return
    try:
        outbox_relay(instance_id=instance_id)
    except Exception:
        logger.exception("outbox relay nudge failed; beat's sweep will deliver the rows")


class _BackgroundRelay:
    """The relay of this process's commits, on a thread of its own (OUTBOX_RELAY_NUDGE="thread"):
    a commit only names its instance here and returns, instead of the request locking,
    publishing and marking its rows itself. Nudges that arrive while a run is under way are
    served together by the next one.

    Nothing is lost if the process dies with nudges pending: the rows are in the database and
    beat's sweep sends them (at least once, as always).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: set[int | None] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = False
        self._stopping = False

    def nudge(self, instance_id: int | None) -> None:
        with self._lock:
            self._pending.add(instance_id)
            # A forked child (a Celery worker, a preforked web process) inherits no threads.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        relay_event_loop_own()
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._busy = False
                    self._wake.wait()
                if self._stopping:
                    self._busy = False
                    connection.close()
                    return
                pending, self._pending, self._busy = self._pending, set(), True
            try:
                # One instance's nudge walks that instance's pending rows by index; several
                # instances' nudges are served by one run over every due row.
                outbox_relay(instance_id=next(iter(pending)) if len(pending) == 1 else None)
            except Exception:
                logger.exception("outbox relay nudge failed; beat's sweep will deliver the rows")
                # This thread's own connection stays open between runs, but not one that failed:
                # the next run opens a new one.
                connection.close()

    def stop(self, timeout: float) -> None:
        """End the thread once it has served what is pending, closing its connection (tests:
        a test database cannot be dropped while the thread holds a session on it)."""
        self.wait_idle(timeout)
        with self._lock:
            thread, self._stopping = self._thread, True
            self._wake.notify()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._thread, self._stopping = None, False

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no nudge is pending or being served (for tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending and not self._busy:
                    return True
            time.sleep(0.005)
        return False


_background_relay = _BackgroundRelay()


def outbox_relay_wait_idle(*, timeout: float = 10.0) -> bool:
    """Wait until this process's background relay has served every nudge (tests, benchmarks)."""
    return _background_relay.wait_idle(timeout)


def outbox_relay_thread_stop(*, timeout: float = 10.0) -> None:
    """Serve what is pending, then end this process's relay thread (a later nudge starts it again)."""
    _background_relay.stop(timeout)


RELAY_PASS_LIMIT = 200


def outbox_relay(*, instance_id: int | None = None, limit: int = RELAY_PASS_LIMIT) -> int:
    """Dispatch due rows, oldest first and in id order per instance; return how many went.

    A pass sends an instance's rows only as far as every earlier pending row of that
    instance is in the pass too: a row another relay holds (skipped by SKIP LOCKED) holds back
    the rows behind it, so two relays never overtake each other within an instance. When the
    broker refuses a row, the run stops and the row waits.
    """
    if not settings.OUTBOX_RELAY_HERE:
        return 0  # another process relays (the embedded default's web process, web_relay.py)
    sent = 0
    for _ in range(MAX_PASSES):
        sent_in_pass, broker_down, more = _relay_pass(instance_id=instance_id, limit=limit)
        sent += sent_in_pass
        if broker_down or sent_in_pass == 0 or not more:
            break
    return sent


def _relay_pass(*, instance_id: int | None, limit: int) -> tuple[int, bool, bool]:
    """One SELECT ... FOR UPDATE SKIP LOCKED of due rows, each with the number of due rows
    of its instance pending before it; one UPDATE marking those sent (and one more for a row
    the broker refused). Returns (sent, broker down, whether another pass may find more)."""
    with transaction.atomic():
        rows = rows_compiled(
            ("outbox due", instance_id is None, limit),
            lambda: _due_rows(for_instance=instance_id is not None, limit=limit),
            {STAND_IN_ID: instance_id},
        )
        taken: Counter[int] = Counter()
        held_back = False
        sent: list[int] = []
        announced: list[Event] = []
        broker_down = False
        # Events taken since the last job, announced together (one round trip to the live
        # store, one send per stream) before the next job or at the end, so the rows still go
        # in id order: whatever fails, everything before it is sent and nothing after it.
        waiting: list[OutboxMessage] = []

        def announce_waiting() -> bool:
            if not waiting:
                return True
            events = [
                Event(id=r.pk, type=r.topic, payload=r.payload, instance_id=r.instance_id) for r in waiting
            ]
            try:
                events_announce(events)
            except Exception as error:
                _not_dispatched(waiting[0], error)
                return False
            sent.extend(r.pk for r in waiting)
            announced.extend(events)
            waiting.clear()
            return True

        for row in rows:
            if row.instance_id is not None:
                # Every earlier pending row of the instance must be one this pass has taken.
                if (row.earlier_pending or 0) != taken[row.instance_id]:
                    held_back = True
                    continue
                taken[row.instance_id] += 1
            if row.topic not in TOPIC_JOBS:
                waiting.append(row)
                continue
            if not announce_waiting():
                broker_down = True
                break
            try:
                _job_publish(row)
            except Exception as error:
                _not_dispatched(row, error)
                broker_down = True
                break
            sent.append(row.pk)
        else:
            broker_down = not announce_waiting()
        # Whatever else listens hears the pass's events together (one read of the webhook
        # endpoints for all of them, not one per event).
        sinks_hear(announced)
        if sent:
            OutboxMessage.objects.filter(pk__in=sent).update(
                dispatched_at=timezone.now(), attempts=F("attempts") + 1
            )
    return len(sent), broker_down, held_back or len(rows) == limit


def _due_rows(*, for_instance: bool, limit: int) -> QuerySet[OutboxMessage]:
    """The relay's SELECT, built once per shape (apps.core.compiled). Due by the database's
    clock, the one every relay shares, whichever host it runs on."""
    now = Now()
    earlier_pending = (
        OutboxMessage.objects.filter(
            instance_id=OuterRef("instance_id"),
            id__lt=OuterRef("id"),
            dispatched_at__isnull=True,
            available_at__lte=now,
        )
        .order_by()
        .values("instance_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    due = OutboxMessage.objects.filter(dispatched_at__isnull=True, available_at__lte=now)
    if for_instance:
        due = due.filter(instance_id=STAND_IN_ID)
    return (
        due.annotate(earlier_pending=Subquery(earlier_pending))
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("id")[:limit]
    )


def _job_publish(row: OutboxMessage) -> None:
    """Send a job's row to the broker. (Events go to the channel layer from the relay itself,
    events_announce: a Celery hop per event costs more than the live inbox's latency budget,
    docs/adr/live-events-delivered-by-the-relay.md.)"""
    job = import_string(TOPIC_JOBS[row.topic])
    # No publish retries here: a broker that is down must not hold the committing request;
    # the row simply waits for the next nudge or sweep.
    job.apply_async(kwargs=dict(row.payload), retry=False)


def _not_dispatched(row: OutboxMessage, error: Exception) -> None:
    logger.warning("outbox row %s (%s) not dispatched: %s", row.pk, row.topic, error)
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=F("attempts") + 1, last_error=f"{type(error).__name__}: {error}"[:2000]
    )


def outbox_prune(*, older_than: timedelta | None = None) -> int:
    """Delete rows dispatched longer ago than the retention period; return how many."""
    cutoff = timezone.now() - (older_than or timedelta(hours=settings.OUTBOX_RETENTION_HOURS))
    with transaction.atomic():
        deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=cutoff).delete()
    return deleted


def notification_deliver(
    *, message_id: int, topic: str, payload: dict[str, Any], instance_id: int | None
) -> None:
    """Announce one event (`event_announce`), then hand it to the sinks (`sinks_hear`), as the
    relay does for each pass's events."""
    sinks_hear([event_announce(message_id=message_id, topic=topic, payload=payload, instance_id=instance_id)])


def event_announce(*, message_id: int, topic: str, payload: dict[str, Any], instance_id: int | None) -> Event:
    """Announce one event (events_announce)."""
    return events_announce([Event(id=message_id, type=topic, payload=payload, instance_id=instance_id)])[0]


def events_announce(events: list[Event]) -> list[Event]:
    """Announce events, in order, to whoever listens on the channel layer: the groups each
    producer chose (`notify_groups`, see apps.notifications.events), each message numbered in
    its group's stream by the live event store (apps.notifications.live) first, so a socket
    that missed it can catch up. Listeners drop repeats by stream sequence and event id.
    There is no per-instance group: an instance's confidential task must not reach
    everyone who watches the instance. A relay pass's events are numbered in one round trip
    to the store and sent stream by stream, each stream's messages in order.

    A personal event (assigned to you, a reminder, ...) also goes to the people job, which
    writes the bell's notifications and mails those not online. Raises when the event store,
    the channel layer or the broker is down: the rows stay pending and are sent again (the
    store numbers an event once however often it is recorded). Returns the events, for the sinks.
    """
    from apps.notifications.live import live_event_body, live_event_frame, live_record_all
    from apps.notifications.personal import personal_address

    recorded = live_record_all([(event.id, event.type, event.payload) for event in events])
    messages: dict[str, list[dict[str, Any]]] = {}
    for event, streams in zip(events, recorded, strict=True):
        body = live_event_body(message_id=event.id, topic=event.type, payload=event.payload)
        # Each socket forwards `frame` as it is (docs/live.md): the text is encoded here, once
        # per stream, not once per socket.
        for stream, seq in streams.items():
            messages.setdefault(stream, []).append(
                {
                    "type": "outbox.event",
                    "message_id": event.id,
                    "topic": event.type,
                    "stream": stream,
                    "seq": seq,
                    "frame": live_event_frame(body=body, stream=stream, seq=seq),
                }
            )
    live_group_send(messages)
    for event in events:
        if personal_address(event.type, event.payload) is not None:
            job = import_string(PEOPLE_JOB)
            job.apply_async(
                kwargs={"message_id": event.id, "topic": event.type, "payload": event.payload}, retry=False
            )
    return events


def sinks_hear(events: list[Event]) -> None:
    """Hand announced events to whatever else listens (webhooks, apps.notifications.sinks). A
    sink that fails must not hold back the live inbox, which has already heard them: the rows
    are marked sent, and each sink's own catch-up (webhooks' beat sweep over recent events)
    makes good what it missed."""
    if not events:
        return
    for sink in sinks():
        try:
            # A savepoint each: a sink's database error (a timeout, a refused row) must not
            # abort the relay's transaction, which still has to mark the rows sent.
            with transaction.atomic():
                sink(events)
        except Exception:
            logger.exception(
                "events %s not handed to %s; its catch-up will",
                ", ".join(f"{e.id} ({e.type})" for e in events),
                sink,
            )


def live_group_send(messages: dict[str, list[dict[str, Any]]]) -> None:
    """Send each group its messages on the channel layer, in order within a group, the
    groups all at once."""
    if not messages:
        return
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return

    async def send_in_order(group: str, in_order: list[dict[str, Any]]) -> None:
        for message in in_order:
            await layer.group_send(group, message)

    async def send_all() -> None:
        await asyncio.gather(*(send_in_order(group, in_order) for group, in_order in messages.items()))

    loop = getattr(_relay_thread, "loop", None)
    if loop is not None:
        # The relay thread keeps one event loop, and with it the channel layer's connections:
        # async_to_sync would make a new loop (and a new Redis connection) for every event.
        loop.run_until_complete(send_all())
        return
    async_to_sync(send_all)()


# What a relay's thread keeps for itself (its event loop).
_relay_thread = threading.local()


def relay_event_loop_own() -> None:
    """Give the calling thread, which relays from now on, an event loop of its own, kept with
    the channel layer's connections for as long as the thread lives (the background relay's
    thread, the relay process)."""
    import asyncio

    _relay_thread.loop = asyncio.new_event_loop()


def live_control(*, groups: list[str], kind: str, **details: Any) -> None:
    """Tell the sockets of `groups` to act on a change of who they are (docs/live.md):
    "access_changed" (recompute subscriptions), "signed_out" and "deactivated" (close),
    "bell" (a new notification). Never raises: a lost control message is made good by the
    server's periodic roll call (apps.live.rollcall: it closes sockets of people gone, and
    follows the access marks that "access_changed" leaves in the live store)."""
    if kind == "access_changed":
        from apps.notifications.live import live_access_changed

        try:
            live_access_changed(groups=groups)  # for the roll call, should the message be lost
        except Exception:
            logger.exception("access change of %s not marked in the live store", groups)
    try:
        live_group_send({group: [{"type": "live.control", "kind": kind, **details}] for group in groups})
    except Exception:
        logger.exception("live control message %s to %s not sent", kind, groups)


def notifications_for_people(*, message_id: int, topic: str, payload: dict[str, Any]) -> int:
    """Write the notifications of one personal event, ring the bells of those it reached,
    and queue their mail. Returns how many notifications were written."""
    from apps.notifications.events import user_group
    from apps.notifications.personal import notifications_record

    written = notifications_record(message_id=message_id, topic=topic, payload=payload)
    if written:
        # Only once they are committed: run inside a transaction (the relay's own, when the
        # job runs eagerly), a bell rung at once sent pages to fetch a bell without them.
        transaction.on_commit(
            partial(
                _bells_and_mail,
                groups=sorted({user_group(n.user_id) for n in written}),
                notification_ids=[n.pk for n in written],
            )
        )
    return len(written)


def _bells_and_mail(*, groups: list[str], notification_ids: list[int]) -> None:
    live_control(groups=groups, kind="bell")
    job = import_string(EMAIL_JOB)
    job.apply_async(kwargs={"notification_ids": notification_ids}, retry=False)
