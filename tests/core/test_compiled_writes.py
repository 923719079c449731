"""Rows written by statements built once per model and shape (apps.core.compiled), read back
through the ORM: the same values Model.save() would have stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.compiled import row_update_compiled, rows_insert_compiled
from apps.humantasks.models import HumanTask
from apps.notifications.models import OutboxMessage
from apps.workflows.models import WorkflowInstance
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.django_db]


def test_new_rows_get_their_keys_in_order_and_read_back_as_written(people):
    now = timezone.now()
    rows = [
        OutboxMessage(
            topic="report.ready",
            payload={"n": n, "text": "é\u2028", "list": [1, None]},
            created_at=now,
            available_at=now + timedelta(minutes=n),
        )
        for n in range(3)
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        rows_insert_compiled(rows)

    assert [query["sql"].split(" (")[0] for query in captured.captured_queries] == [
        'INSERT INTO "notifications_outboxmessage"'
    ]
    assert [row.pk for row in rows] == sorted(row.pk for row in rows)
    assert all(row.pk is not None and not row._state.adding for row in rows)
    stored = OutboxMessage.objects.in_bulk([row.pk for row in rows])
    for row in rows:
        again = stored[row.pk]
        assert (again.topic, again.payload, again.available_at, again.attempts, again.instance_id) == (
            row.topic,
            row.payload,
            row.available_at,
            0,
            None,
        )


def test_a_process_kind_proxy_is_written_to_its_table(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-PROXY")
    assert type(purchase).__name__ == "PurchaseOrderApproval"
    stored = WorkflowInstance.objects.get(pk=purchase.pk)
    assert (stored.business_key, stored.data["amount"], stored.state) == ("PO-PROXY", 100, purchase.state)


def test_a_duplicate_is_refused_by_the_database_as_with_save(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-TWICE")
    twin = WorkflowInstance(kind=purchase.kind, definition_version=1, business_key="PO-TWICE", data={})
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert_compiled([twin])


def test_a_row_with_its_key_set_goes_through_the_orm(people):
    now = timezone.now()
    row = OutboxMessage(pk=987_654, topic="report.ready", payload={}, created_at=now, available_at=now)
    with transaction.atomic():
        rows_insert_compiled([row])
    assert OutboxMessage.objects.filter(pk=987_654).exists()


def test_an_update_writes_the_named_fields_only_and_stamps_auto_now(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-UPDATE")
    task = HumanTask.objects.get(instance=purchase)
    before = task.updated_at
    task.priority = 99
    task.title = "changed in memory only"
    with transaction.atomic():
        row_update_compiled(task, ("priority", "updated_at"))
    stored = HumanTask.objects.get(pk=task.pk)
    assert stored.priority == 99
    assert stored.title != "changed in memory only"
    assert stored.updated_at > before


def test_an_update_of_a_row_that_is_not_there_fails(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-GONE")
    task = HumanTask.objects.get(instance=purchase)
    task.pk = 2_000_000_000  # no such row
    with pytest.raises(DatabaseError, match="not there"), transaction.atomic():
        row_update_compiled(task, ("priority",))
