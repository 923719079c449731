"""Asking whether a person may see one process instance reads that instance's tasks through an
index, never the task table: the visible tasks' semi-join sits under an OR (their own, or one
with a task they see), which PostgreSQL cannot make a join, so unnarrowed it read every task
ever opened for each question (instance pages, comments, mentions, every webhook owner per event)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.humantasks.selectors import instances_taken_part_in, instances_visible_to
from apps.workflows.models import WorkflowInstance
from tests.humantasks.services.test_decision_plans import MOST_ROWS_READ, widest_task_scan

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.mark.parametrize("selector", [instances_visible_to, instances_taken_part_in])
def test_one_instance_is_answered_from_its_own_tasks(history, make_user, order, selector):
    finance = make_user("Finance", username="finance-reader")
    past = WorkflowInstance.objects.filter(business_key__startswith="HIST-").order_by("pk").first()

    with CaptureQueriesContext(connection) as captured:
        # The past order's task is in the team leads' queue: the finance reader may not see it.
        assert not selector(user=finance, instance_id=past.pk).exists()
    assert selector(user=history, instance_id=order.pk).exists()

    sql = next(q["sql"] for q in captured.captured_queries if "workflows_workflowinstance" in q["sql"])
    widest, plan = widest_task_scan(sql)
    assert widest <= MOST_ROWS_READ, plan
