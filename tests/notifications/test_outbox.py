"""The transactional outbox and its relay, in one process; the broker, where there is one,
is a redis-server the test starts (and reads back what was published, in order)."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.notifications.events import user_group
from apps.notifications.live import live_replay
from apps.notifications.models import OutboxMessage
from apps.notifications.services import (
    outbox_prune,
    outbox_put,
    outbox_relay,
    outbox_relay_thread_stop,
    outbox_relay_wait_idle,
)
from apps.workflows.models import WorkflowInstance
from tests.celery_workers import RedisServer, free_port
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.postgres]


def pending():
    return OutboxMessage.objects.filter(dispatched_at__isnull=True)


def published(redis_url):
    """The jobs in the broker's default queue, oldest first: (job name, its kwargs)."""
    client = redis.Redis.from_url(redis_url)
    messages = [json.loads(raw) for raw in reversed(client.lrange("celery", 0, -1))]
    return [
        (m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1])
        for m in messages  # body: [args, kwargs, embed]
    ]


@pytest.mark.django_db
def test_rows_are_written_with_the_transition_and_sent_only_after_commit(
    people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        purchase = start_purchase_order(people["requester"], amount=100)
        row, created = OutboxMessage.objects.filter(instance=purchase).order_by("id")
        assert (row.topic, row.payload["to_state"], row.dispatched_at) == (
            "instance.transitioned",
            "team_lead_review",
            None,
        )
        assert (created.topic, created.payload["step"]) == ("task.created", "team_lead_approval")

    assert pending().count() == 2
    for callback in callbacks:
        callback()
    row.refresh_from_db()
    assert row.dispatched_at is not None and row.attempts == 1


@pytest.mark.django_db
def test_a_transition_that_rolls_back_leaves_no_row(people):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        start_purchase_order(people["requester"], amount=100)
        raise Abandoned
    assert not OutboxMessage.objects.exists()
    assert not WorkflowInstance.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outbox_put_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_put(topic="instance.transitioned", payload={})
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_relay_run_costs_the_same_queries_for_one_row_or_thirty(people, django_assert_num_queries):
    with transaction.atomic():
        for n in range(30):
            outbox_put(topic="report.ready", payload={"n": n})

    # One pass: SAVEPOINT, SELECT ... FOR UPDATE SKIP LOCKED, the sinks in a savepoint of
    # their own (SAVEPOINT, RELEASE), one UPDATE of the thirty rows sent, RELEASE. No second
    # pass looks for more: the first took fewer rows than its limit and none was held back.
    with django_assert_num_queries(6):
        assert outbox_relay() == 30
    assert not pending().exists()


@pytest.mark.django_db
def test_a_relay_run_reads_the_webhook_endpoints_once_for_all_its_events(people):
    """The sinks hear a pass's events together: the webhook fan-out's read of the endpoints
    is one query however many catalogue events the pass carries."""

    def relay_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            outbox_relay()
        assert not pending().exists()
        return [query["sql"] for query in captured.captured_queries]

    start_purchase_order(people["requester"], amount=100, business_key="PO-ONE")
    one = relay_queries()
    for n in range(10):
        start_purchase_order(people["requester"], amount=100, business_key=f"PO-MANY-{n}")
    twenty = relay_queries()

    assert len(twenty) == len(one)
    assert sum("webhooks_webhookendpoint" in sql for sql in twenty) == 1


@pytest.mark.django_db
def test_rows_not_yet_due_wait(people):
    later = timezone.now() + timedelta(minutes=5)
    with transaction.atomic():
        waiting = outbox_put(topic="report.ready", payload={}, available_at=later)
    assert outbox_relay() == 0
    waiting.refresh_from_db()
    assert waiting.dispatched_at is None


@pytest.mark.django_db
def test_delivered_rows_are_pruned_after_the_retention_period(people, settings):
    settings.OUTBOX_RETENTION_HOURS = 24
    with transaction.atomic():
        old, recent, undelivered = (outbox_put(topic="t", payload={}) for _ in range(3))
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(dispatched_at=now - timedelta(hours=25))
    OutboxMessage.objects.filter(pk=recent.pk).update(dispatched_at=now - timedelta(hours=23))

    assert outbox_prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, undelivered.pk}


@pytest.mark.django_db
@pytest.mark.redis
def test_redis_down_the_transition_still_commits_at_once_and_the_events_go_when_it_is_back(
    people, django_capture_on_commit_callbacks, live_on
):
    # Events go to the channel layer and the live event store, both on this Redis.
    server = RedisServer(free_port())
    live_on(server.url)  # nothing listens there yet
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            purchases = [
                start_purchase_order(people["requester"], amount=100, business_key=f"PO-{n}")
                for n in range(3)
            ]
        assert time.monotonic() - started < 2, "a Redis outage must not hold the committing request"
        assert all(WorkflowInstance.objects.filter(pk=p.pk).exists() for p in purchases)
        # Each order's state change and its team lead task's creation.
        assert pending().count() == 6
        first = pending().order_by("id").first()
        assert first.attempts == 1 and "Connection refused" in first.last_error

        server.start()
        assert outbox_relay() == 6
        assert not pending().exists()
        heard = live_replay(stream=user_group(people["requester"].pk), after=0)
        assert [e["data"]["instance"] for e in heard.events if e["topic"] == "instance.transitioned"] == [
            p.pk for p in purchases
        ]
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
def test_a_row_held_by_another_relay_holds_back_its_instance_only(people, publishing_to):
    a = start_purchase_order(people["requester"], amount=100, business_key="PO-A")
    b = start_purchase_order(people["requester"], amount=100, business_key="PO-B")
    # Written straight to the table, so no on-commit nudge sends them before the race is set up.
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(topic="automation.step", payload={"step_run_id": label}, instance=instance)
        for label, instance in [("a1", a), ("b1", b), ("a2", a), ("b2", b), ("a3", a)]
    )
    a1 = rows[0]
    holding, release = threading.Event(), threading.Event()

    def other_relay_in_flight() -> None:
        with transaction.atomic():
            OutboxMessage.objects.select_for_update().get(pk=a1.pk)
            holding.set()
            release.wait(timeout=30)
        connection.close()

    other = threading.Thread(target=other_relay_in_flight)
    other.start()
    assert holding.wait(timeout=10)
    try:
        assert outbox_relay() == 2
        assert list(
            pending()
            .filter(topic="automation.step")
            .order_by("id")
            .values_list("payload__step_run_id", flat=True)
        ) == [
            "a1",
            "a2",
            "a3",
        ]
    finally:
        release.set()
        other.join(timeout=10)

    assert outbox_relay() == 3
    sent = [kwargs["step_run_id"] for job, kwargs in published(publishing_to) if job == "automation.step_run"]
    assert sent == ["b1", "b2", "a1", "a2", "a3"]


@pytest.fixture
def relay_thread(settings):
    """Commits nudge this process's relay thread; it ends with the test, closing its session."""
    settings.OUTBOX_RELAY_NUDGE = "thread"
    yield
    outbox_relay_thread_stop(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_with_the_relay_thread_the_commit_returns_and_the_thread_sends_the_rows(people, relay_thread):
    purchases = [
        start_purchase_order(people["requester"], amount=100, business_key=f"PO-T{n}") for n in range(3)
    ]

    assert outbox_relay_wait_idle(timeout=30)
    assert not pending().exists()
    sent = OutboxMessage.objects.filter(instance__in=purchases)
    assert sent.count() == 6 and all(row.attempts == 1 for row in sent)


@pytest.mark.django_db(transaction=True)
def test_a_relay_thread_that_fails_leaves_the_rows_for_the_sweep(people, relay_thread, monkeypatch):
    refused = []

    def store_down(events):
        refused.extend(event.id for event in events)
        raise ConnectionError("the live event store is down")

    monkeypatch.setattr("apps.notifications.services.events_announce", store_down)
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-DOWN")

    assert outbox_relay_wait_idle(timeout=30)
    assert refused, "the thread should have tried"
    assert pending().filter(instance=purchase).count() == 2
    monkeypatch.undo()
    # Beat's sweep (the same relay) delivers them, and the thread serves the next commit.
    assert outbox_relay() == 2
    start_purchase_order(people["requester"], amount=100, business_key="PO-UP")
    assert outbox_relay_wait_idle(timeout=30)
    assert not pending().exists()


@pytest.mark.django_db
def test_a_sink_whose_database_work_fails_does_not_keep_the_rows_from_being_marked_sent(
    people, monkeypatch, caplog
):
    """A sink's failed statement (a timeout, say) would abort the relay's transaction, and
    the pass would roll back after its events went out, again and again: each sink runs in a
    savepoint of its own."""
    from django.db import DatabaseError

    from apps.notifications import sinks as sinks_module

    heard: list[int] = []

    def failing(events):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    def listening(events):
        heard.extend(event.id for event in events)
        # The transaction is still usable after the failed sink.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    monkeypatch.setattr(
        sinks_module, "_sinks", {"failing": failing, **sinks_module._sinks, "listening": listening}
    )
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-SINK")

    assert outbox_relay() == 2
    assert not pending().exists()
    rows = OutboxMessage.objects.filter(instance=purchase)
    assert sorted(heard) == sorted(rows.values_list("id", flat=True))
    assert all(row.attempts == 1 for row in rows)
    assert any(
        "not handed to" in record.getMessage() and isinstance(record.exc_info[1], DatabaseError)
        for record in caplog.records
        if record.exc_info
    )


@pytest.mark.django_db
def test_a_pass_numbers_its_events_in_one_round_trip_and_sends_each_stream_in_order(
    people, django_capture_on_commit_callbacks, live_on, monkeypatch
):
    from apps.notifications import live, services

    server = RedisServer(free_port())
    server.start()
    live_on(server.url)
    try:
        with django_capture_on_commit_callbacks(execute=False):  # nothing relays on commit here
            purchases = [
                start_purchase_order(people["requester"], amount=100, business_key=f"PO-BATCH-{n}")
                for n in range(4)
            ]
        store = live._store()
        calls: list[int] = []
        record_all = store.record_all
        monkeypatch.setattr(store, "record_all", lambda items: calls.append(len(items)) or record_all(items))
        monkeypatch.setattr(store, "record", lambda **kwargs: pytest.fail("one event at a time"))
        sent: list[dict] = []
        group_send = services.live_group_send
        monkeypatch.setattr(
            services, "live_group_send", lambda messages: sent.append(messages) or group_send(messages)
        )

        assert outbox_relay() == 8

        assert calls == [8]
        [messages] = sent
        for stream, in_order in messages.items():
            seqs = [message["seq"] for message in in_order]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), stream
        heard = live_replay(stream=user_group(people["requester"].pk), after=0)
        assert [e["data"]["instance"] for e in heard.events if e["topic"] == "instance.transitioned"] == [
            p.pk for p in purchases
        ]
    finally:
        server.stop()
