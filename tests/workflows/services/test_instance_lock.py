"""instance_lock: the lock every writer of an instance's rows takes first, by the instance's
id or by a row that belongs to it, in one statement built once per shape."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from apps.core.errors import NotFound
from apps.humantasks.models import HumanTask
from apps.workflows.services import instance_lock
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.django_db]


def test_by_id_or_by_one_of_its_tasks_in_one_locking_statement_as_its_process_kind(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-LOCK")
    task = HumanTask.objects.get(instance=purchase)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        by_id = instance_lock(instance_id=purchase.pk)
        by_task = instance_lock(of_row=(HumanTask, task.pk))
    assert by_id.pk == by_task.pk == purchase.pk
    assert type(by_id).__name__ == type(by_task).__name__ == "PurchaseOrderApproval"
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 2 and all(sql.endswith("FOR UPDATE") for sql in statements)


@pytest.mark.parametrize("wrong", [2_000_000_000, "12abc", None, 2**70])
def test_an_instance_that_is_not_there_is_not_found_or_none_when_that_is_asked(people, wrong):
    with transaction.atomic():
        with pytest.raises(NotFound):
            instance_lock(instance_id=wrong)
        assert instance_lock(instance_id=wrong, missing_ok=True) is None
        assert instance_lock(of_row=(HumanTask, wrong), missing_ok=True) is None


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_rather_than_lock_nothing(people):
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-NOLOCK")
    with pytest.raises(TransactionManagementError):
        instance_lock(instance_id=purchase.pk)
