import pytest

from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_claim, task_complete
from apps.workflows.services import instance_start
from tests.conftest import purchase_order_data


@pytest.mark.django_db
def test_small_purchase_order_is_approved_by_one_team_lead(people):
    order = instance_start(
        kind="purchase_order", business_key="PO-1", data=purchase_order_data(100), actor=people["requester"]
    )
    assert order.state == "team_lead_review"
    [task] = inbox_for(user=people["lead"]).tasks
    task_claim(task=task, actor=people["lead"])
    task_complete(task=task, actor=people["lead"], outcome="approve")
    order.refresh_from_db()
    assert order.state == "approved"
