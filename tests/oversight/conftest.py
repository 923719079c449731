"""Processes with a history to oversee, and the people who may and may not oversee them."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from apps.accounts.models import User
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start
from tests.celery_workers import own_redis, publishing_to, workers  # noqa: F401 (fixtures)
from tests.factories import purchase_order_data
from tests.process_steps import decide, open_task, open_tasks


def rejected_order(
    people: dict[str, User], key: str = "PO-STORY-1", amount: float = 9900
) -> WorkflowInstance:
    """A purchase order a team lead approved and finance rejected, as PO-DEMO-1006."""
    order = instance_start(
        kind="purchase_order", business_key=key, data=purchase_order_data(amount), actor=people["requester"]
    )
    decide(open_task(order, "team_lead_approval"), people["lead"])
    # Two finance approvals are needed; one rejection ends the order.
    decide(open_tasks(order, "finance_approval")[0], people["finance"], "reject", comment="Over budget")
    order.refresh_from_db()
    return order


@pytest.fixture
def staffer(make_user) -> User:
    """Staff, but neither auditor nor manager: must learn nothing from the oversight pages."""
    return make_user("Team leads", username="staffer", is_staff=True)


@pytest.fixture
def finance_manager(make_user, queues) -> User:
    """Manages the Finance queue only."""
    user = make_user(username="finance-manager")
    assign_perm("humantasks.manage_queue", user, queues["finance"])
    return user
