"""A service's audit events and outbox rows written at the end of its transaction, one INSERT
per table (apps.core.transactions.atomic_batched), on the real database."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.audit.services import audit_record
from apps.core import transactions
from apps.notifications.models import OutboxMessage
from apps.notifications.services import outbox_put
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.django_db]


def inserts(captured: CaptureQueriesContext, table: str) -> int:
    return sum(q["sql"].startswith(f'INSERT INTO "{table}"') for q in captured.captured_queries)


def test_a_start_writes_its_three_audit_events_in_one_insert_and_its_two_outbox_rows_in_another(people):
    with CaptureQueriesContext(connection) as captured:
        purchase = start_purchase_order(people["requester"], amount=100)

    assert inserts(captured, "audit_auditevent") == 1
    assert inserts(captured, "notifications_outboxmessage") == 1
    # In the order they were recorded, the chain whole.
    events = AuditEvent.objects.filter(instance=purchase).order_by("seq")
    assert [e.action for e in events] == ["instance.started", "instance.transitioned", "task.created"]
    assert [e.seq for e in events] == [1, 2, 3]
    checked, broken = audit_chain_first_break()
    assert checked >= 3 and broken is None
    rows = OutboxMessage.objects.filter(instance=purchase).order_by("id")
    assert [r.topic for r in rows] == ["instance.transitioned", "task.created"]


def test_rows_of_a_savepoint_that_rolls_back_are_not_written(people):
    class Undone(Exception):
        pass

    with transactions.atomic_batched():
        outbox_put(topic="report.ready", payload={"n": "kept before"})
        try:
            with transaction.atomic():
                outbox_put(topic="report.ready", payload={"n": "undone"})
                audit_record(action="report.undone", actor=None, chain_key="report:1")
                raise Undone
        except Undone:
            pass
        with transaction.atomic():
            outbox_put(topic="report.ready", payload={"n": "kept in a savepoint"})
        # Nothing is written before the block ends.
        assert not OutboxMessage.objects.filter(topic="report.ready").exists()

    assert list(
        OutboxMessage.objects.filter(topic="report.ready").order_by("id").values_list("payload", flat=True)
    ) == [
        {"n": "kept before"},
        {"n": "kept in a savepoint"},
    ]
    assert not AuditEvent.objects.filter(action="report.undone").exists()


def test_a_block_that_fails_writes_nothing_and_leaves_no_batch_open(people):
    class Refused(Exception):
        pass

    with pytest.raises(Refused), transactions.atomic_batched():
        outbox_put(topic="report.ready", payload={"n": 1})
        raise Refused
    assert not OutboxMessage.objects.exists()
    # No batch left open on the connection for the next transaction to join.
    assert getattr(connection, "_rows_batched", None) is None

    # The next transaction writes at once again.
    with transaction.atomic():
        outbox_put(topic="report.ready", payload={"n": 2})
        assert OutboxMessage.objects.filter(topic="report.ready").count() == 1


def test_a_nested_block_that_fails_and_is_caught_drops_only_its_own_rows(people):
    class Refused(Exception):
        pass

    with transactions.atomic_batched():
        outbox_put(topic="report.ready", payload={"n": "outer"})
        try:
            with transactions.atomic_batched():
                outbox_put(topic="report.ready", payload={"n": "inner"})
                raise Refused
        except Refused:
            pass
        outbox_put(topic="report.ready", payload={"n": "outer after"})

    assert list(
        OutboxMessage.objects.filter(topic="report.ready").order_by("id").values_list("payload", flat=True)
    ) == [{"n": "outer"}, {"n": "outer after"}]


def test_a_transaction_marked_for_rollback_writes_nothing_and_raises_nothing(people):
    with transactions.atomic_batched():
        outbox_put(topic="report.ready", payload={"n": 1})
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.filter(topic="report.ready").exists()


def test_no_rows_is_no_insert(people):
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        transactions.rows_insert([])
    assert inserts(captured, "notifications_outboxmessage") == 0


def test_a_flush_refused_by_the_database_rolls_the_whole_transaction_back(people):
    """An audit event whose (chain, seq) is taken: the INSERT at the block's end fails, and
    nothing of the block stays, the rows written before the flush included."""
    from django.db import IntegrityError

    with transaction.atomic():
        audit_record(action="report.first", actor=None, chain_key="report:9")
    with pytest.raises(IntegrityError), transactions.atomic_batched():
        outbox_put(topic="report.ready", payload={"n": "with the clash"})
        event = AuditEvent(
            chain_key="report:9", seq=1, action="report.clash", actor_type="system", actor_label="system"
        )
        transactions.rows_insert([event])
    assert not OutboxMessage.objects.filter(topic="report.ready").exists()
    assert list(AuditEvent.objects.filter(chain_key="report:9").values_list("action", flat=True)) == [
        "report.first"
    ]
