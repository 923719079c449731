import pytest

from apps.humantasks.selectors import inbox_for
from apps.humantasks.services import task_claim, task_complete
from tests.factories import start_purchase_order


@pytest.mark.django_db
def test_small_purchase_order_is_approved_by_one_team_lead(people):
    order = start_purchase_order(people["requester"], amount=100, business_key="PO-1")
    assert order.state == "team_lead_review"
    [task] = inbox_for(user=people["lead"]).tasks
    task_claim(task=task, actor=people["lead"])
    task_complete(task=task, actor=people["lead"], outcome="approve")
    order.refresh_from_db()
    assert order.state == "approved"
