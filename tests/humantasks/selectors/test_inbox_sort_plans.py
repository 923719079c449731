"""Each inbox sort and filter stays an index walk per queue on a big table (EXPLAIN), the queue
counts read an index and never the queue's closed tasks, and each sort pages through every
matching task exactly once with its keyset cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.errors import InvalidDecision
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import INBOX_SORTS, InboxCursor, InboxFilters, inbox_for, queue_counts_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TASKS = 60_000
INDEX_OF_SORT = {"priority": "task_inbox_open_idx", "due": "task_inbox_due_idx", "age": "task_inbox_age_idx"}


def _fill(queue_ids: list[int], count: int, *, assignee_id: int | None = None) -> None:
    """`count` tasks over the queues, 10% open or claimed, with spread priorities, due and
    creation times, half the claimed tasks held by `assignee_id`; then ANALYZE, so the
    planner knows the table is big."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_workflowinstance
                (kind, definition_version, business_key, state, data, created_at, updated_at, version)
            SELECT 'purchase_order', 1, 'PLAN-' || g, 'team_lead_review', '{}'::jsonb, now(), now(), 1
            FROM generate_series(1, 100) AS g RETURNING id
            """
        )
        instance_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO humantasks_humantask
                (instance_id, process_kind, queue_id, step, activation, title, state, priority, due_at,
                 is_confidential, outcome, decision_data, comment, created_at, updated_at, version)
            SELECT (%s::bigint[])[1 + g %% 100], 'purchase_order', (%s::bigint[])[1 + g %% %s],
                   'team_lead_approval', md5(g::text)::uuid, 'Plan task ' || g,
                   CASE WHEN (g / 7) %% 10 = 0 THEN 'open' WHEN (g / 7) %% 10 = 1 THEN 'claimed'
                        ELSE 'completed' END,
                   (g::bigint * 7919) %% 101,
                   now() + ((g::bigint * 104729) %% 10000) * interval '1 minute',
                   false, '', '{}'::jsonb, '',
                   now() - ((g::bigint * 15485863) %% 100000) * interval '1 second', now(), 1
            FROM generate_series(1, %s) AS g
            """,
            [instance_ids, queue_ids, len(queue_ids), count],
        )
        if assignee_id is not None:
            cursor.execute(
                "UPDATE humantasks_humantask SET assignee_id = %s WHERE state = 'claimed' AND id %% 2 = 0",
                [assignee_id],
            )
        cursor.execute("ANALYZE humantasks_humantask")


@pytest.fixture
def big_inbox(queues, make_user):
    person = make_user("Team leads", "Finance", "CFO", username="planner")
    queue_ids = [queues[slug].pk for slug in ("team-leads", "finance", "cfo", "it", "hr", "payroll")]
    _fill(queue_ids, TASKS, assignee_id=person.pk)
    return person


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _merged_plan(person, sort=INBOX_SORTS["priority"], filters: InboxFilters | None = None) -> str:
    with CaptureQueriesContext(connection) as captured:
        inbox_for(user=person, filters=filters or InboxFilters(), limit=50, sort=sort)
    return _plan(next(q["sql"] for q in captured.captured_queries if "UNION ALL" in q["sql"]))


def _walks(plan: str, index: str) -> bool:
    """The plan reads `index` once per queue of the person (3): one parametrised scan run for
    each queue by the LATERAL join (loops=3), or one scan per branch."""
    scans = [line for line in plan.splitlines() if f"Index Scan using {index} " in line]
    return sum(int(line.rsplit("loops=", 1)[1].rstrip(")")) for line in scans) == 3


@pytest.mark.parametrize("sort_name", list(INBOX_SORTS))
def test_every_sort_walks_its_index_in_each_queue(big_inbox, sort_name):
    plan = _merged_plan(big_inbox, INBOX_SORTS[sort_name])
    # One ordered index walk per queue (3), never a scan of the whole table to sort it.
    assert _walks(plan, INDEX_OF_SORT[sort_name]), plan
    assert "Seq Scan on humantasks_humantask" not in plan, plan


def test_my_tasks_walk_the_assignee_index_in_each_queue(big_inbox):
    plan = _merged_plan(big_inbox, filters=InboxFilters(assignee_id=big_inbox.pk))
    # The person's own tasks are found through an index on the assignee (at a million tasks,
    # task_inbox_assignee_idx: an ordered walk per queue; on this small table PostgreSQL may
    # take the plain foreign-key index), never by reading every open task of the queue.
    walked = [
        line for line in plan.splitlines() if "Scan using" in line and " on humantasks_humantask (" in line
    ]
    assert walked and all("assignee" in line for line in walked), plan
    assert "Seq Scan on humantasks_humantask" not in plan, plan


def test_a_title_search_reads_the_trigram_index(big_inbox):
    plan = _merged_plan(big_inbox, filters=InboxFilters(text="task 4242"))
    assert "Bitmap Index Scan on task_title_search_idx" in plan, plan
    assert "Seq Scan on humantasks_humantask" not in plan, plan


def test_queue_counts_read_the_counts_index_not_the_closed_tasks(big_inbox):
    with CaptureQueriesContext(connection) as captured:
        counts = queue_counts_for(user=big_inbox)
    plan = _plan(captured.captured_queries[-1]["sql"])
    # Per queue, an index range of its open tasks (task_queue_counts_idx once the table is
    # vacuumed and index-only scans pay; another open-task index before), never a scan of
    # the task table joined to the queues, which read every closed task too.
    assert "Seq Scan on humantasks_humantask" not in plan, plan
    assert "Index Cond: ((queue_id = humantasks_queue.id)" in plan, plan
    open_by_queue = {c.queue.slug: c.open for c in counts}
    assert open_by_queue == {
        slug: HumanTask.objects.filter(queue__slug=slug, state="open", is_confidential=False).count()
        for slug in ("team-leads", "finance", "cfo")
    }


@pytest.mark.parametrize("sort_name", list(INBOX_SORTS))
def test_cursors_page_through_every_task_once_in_order(queues, make_user, sort_name):
    person = make_user("Team leads", "Finance", username="pager")
    _fill([queues["team-leads"].pk, queues["finance"].pk, queues["it"].pk], 700)
    sort = INBOX_SORTS[sort_name]
    expected = list(
        HumanTask.objects.filter(queue__slug__in=("team-leads", "finance"), state__in=("open", "claimed"))
        .order_by(*sort.order_by)
        .values_list("pk", flat=True)
    )
    seen, after = [], None
    while True:
        page = inbox_for(user=person, limit=17, after=after, sort=sort)
        seen += [task.pk for task in page.tasks]
        if page.next_cursor is None:
            break
        after = InboxCursor.decode(page.next_cursor.encode(), sort=sort_name)
    assert seen == expected and len(expected) > 17


def test_a_cursor_of_one_sort_is_refused_by_another():
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    token = InboxCursor(priority=None, due_at=None, id=5, sort="age", created_at=moment).encode()
    assert InboxCursor.decode(token, sort="age") == InboxCursor(None, None, 5, "age", moment)
    for other in ("priority", "due"):
        with pytest.raises(InvalidDecision):
            InboxCursor.decode(token, sort=other)
