"""A decision's statements find what they need through indexes whatever the company's history:
claiming or deciding a task after a team lead has decided thousands never reads those thousands
(the N-of-M siblings of a task used to be found by their activation alone, which has no index:
every claim and completion read every task ever opened, half a second each at a million)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.humantasks.models import HumanTask
from apps.humantasks.policy import decision_refusals
from apps.humantasks.services import task_claim, task_complete
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# A row estimate or count above this, in any scan of the task table, means a walk of history.
MOST_ROWS_READ = 20


def task_reads(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and '"humantasks_humantask"' in q["sql"]
    ]


def widest_task_scan(sql: str) -> tuple[int, str]:
    """The most rows any scan of the task table produced in `sql`'s plan, and the plan."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on humantasks_humantask" not in plan, plan
    widest = 0
    for line in plan.splitlines():
        scan = re.search(r"Scan (?:using (\S+) )?on (\S+).*actual rows=(\d+) loops=(\d+)", line)
        if not scan:
            continue
        index, table = scan.group(1) or "", scan.group(2)
        if table.startswith("humantasks_humantask") or index.startswith(("humantasks_humantask", "task_")):
            widest = max(widest, int(scan.group(3)))
    return widest, plan


def test_claiming_and_deciding_never_read_the_deciders_history(history, order):
    task = open_task(order)
    with CaptureQueriesContext(connection) as claim:
        claimed = task_claim(task=task, actor=history)
    with CaptureQueriesContext(connection) as complete:
        task_complete(task=claimed, actor=history, outcome="approve", expected_version=claimed.version)

    reads = task_reads(claim) + task_reads(complete)
    # Each: the instance's lock (found by the task), then the task's with every fact its checks need.
    assert len(reads) == 4, reads
    assert "quorum_size" in reads[3]
    for sql in reads:
        widest, plan = widest_task_scan(sql)
        assert widest <= MOST_ROWS_READ, plan


def test_the_inbox_policy_checks_never_read_the_readers_history(history, people, order):
    page = list(HumanTask.objects.filter(instance=order).select_related("instance"))
    with CaptureQueriesContext(connection) as captured:
        decision_refusals(user=history, tasks=page)

    reads = task_reads(captured)
    assert len(reads) == 2, reads
    for sql in reads:
        widest, plan = widest_task_scan(sql)
        assert widest <= MOST_ROWS_READ, plan
