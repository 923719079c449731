"""Invariant 4, first half: the database itself refuses to change or remove audit events.

The refusal is a trigger (django-pgtrigger), so it holds for raw SQL and for the table's
owner too, not just for code that goes through the ORM.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.audit.models import AuditEvent
from apps.workflows.models import WorkflowInstance
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REFUSED = r"Cannot update or delete rows from audit_auditevent|append-only: TRUNCATE refused"


@pytest.fixture
def order(people) -> WorkflowInstance:
    order = start_purchase_order(people["requester"], business_key="PO-AUDIT")
    decide(open_task(order, "team_lead_approval"), people["lead"], "approve")
    return order


def whole_log() -> list[dict]:
    return list(AuditEvent.objects.order_by("id").values())


def execute(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def middle_event_id(order: WorkflowInstance) -> int:
    events = list(AuditEvent.objects.filter(instance=order).order_by("seq").values_list("id", flat=True))
    return events[len(events) // 2]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'task.forged' WHERE id = %s",
        "UPDATE audit_auditevent SET data = '{}'::jsonb, hash = '' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id >= %s",
        "TRUNCATE audit_auditevent",
        "TRUNCATE audit_auditevent CASCADE",
    ],
)
def test_raw_sql_cannot_update_delete_or_truncate_the_audit_log(order, statement):
    event_id = middle_event_id(order)
    before = whole_log()
    assert len(before) > 5

    # Inside the test's transaction the inserts above leave deferred foreign-key checks
    # pending, and PostgreSQL refuses TRUNCATE for that before any trigger runs; run the
    # checks now so the trigger is what answers.
    execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        execute(statement, [event_id] if "%s" in statement else None)

    assert whole_log() == before


@pytest.mark.parametrize(
    "change",
    [
        lambda event: AuditEvent.objects.filter(pk=event.pk).update(action="task.forged"),
        lambda event: AuditEvent.objects.filter(instance=event.instance_id).delete(),
        lambda event: AuditEvent.objects.all().delete(),
        lambda event: event.delete(),
        lambda event: setattr(event, "to_state", "approved") or event.save(),
    ],
    ids=["queryset update", "queryset delete", "delete everything", "instance delete", "instance save"],
)
def test_the_orm_cannot_change_audit_events_either(order, change: Callable[[AuditEvent], object]):
    event = AuditEvent.objects.get(pk=middle_event_id(order))
    before = whole_log()

    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        change(event)

    assert whole_log() == before


def test_appending_goes_on_after_a_refused_change(order, people):
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        execute("DELETE FROM audit_auditevent")
    before = AuditEvent.objects.count()

    start_purchase_order(people["requester"], business_key="PO-AUDIT-2")

    assert AuditEvent.objects.count() > before
