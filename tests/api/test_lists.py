"""List endpoints: cursor pages that cover everything once, and a query count that does not
grow with the page size."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import instance_list
from tests.api.conftest import start
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def orders(people, api) -> list[dict]:
    requester = api(people["requester"])
    return [
        start(requester, "purchase_order", f"PO-L-{n:02}", purchase_order_data(100 + n)).json()
        for n in range(12)
    ]


def walk(client, path: str, **params) -> list[dict]:
    seen, url = [], path
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.json()
        seen.extend(response.json()["results"])
        url = response.json()["next"]
        if url is None:
            return seen
        response = client.get(url)


def test_cursor_pages_cover_every_item_once(people, api, orders):
    lead = api(people["lead"])
    tasks = walk(lead, "/api/v1/tasks/", page_size=5)
    assert len(tasks) == 12 and len({t["id"] for t in tasks}) == 12
    keys = [(-t["priority"], t["due_at"], t["id"]) for t in tasks]
    assert keys == sorted(keys)

    instances = walk(api(people["requester"]), "/api/v1/instances/", page_size=5)
    assert [i["business_key"] for i in instances] == [f"PO-L-{n:02}" for n in reversed(range(12))]
    events = walk(api(people["auditor"]), "/api/v1/audit-events/", page_size=7, action="task.created")
    assert len(events) == 12


def _count_queries(django_assert_num_queries, client, path, count, **params):
    with django_assert_num_queries(count):
        response = client.get(path, params)
    assert response.status_code == 200
    return response.json()["results"]


def test_tasks_list_queries_do_not_grow_with_page_size(people, api, orders, django_assert_num_queries):
    lead = api(people["lead"])
    lead.get("/api/v1/tasks/")  # the key's first use also stamps last_used_at
    # 1 API key + user, 2 visible queues, 3 the user's own and group permissions in one UNION
    # (has_perm: may they read every task?), 4 the UNION ALL of one ordered LIMIT per queue, 5
    # the page's tasks with instance, queue and assignee joined.
    small = _count_queries(django_assert_num_queries, lead, "/api/v1/tasks/", 5, page_size=2)
    large = _count_queries(django_assert_num_queries, lead, "/api/v1/tasks/", 5, page_size=12)
    assert (len(small), len(large)) == (2, 12)


def test_instances_list_queries_do_not_grow_with_page_size(people, api, orders, django_assert_num_queries):
    requester = api(people["requester"])
    requester.get("/api/v1/instances/")
    # 1 API key + user, 2 the user's own and group permissions in one UNION (has_perm: may they
    # see all?), 3 the page with requester and starter joined.
    small = _count_queries(django_assert_num_queries, requester, "/api/v1/instances/", 3, page_size=2)
    large = _count_queries(django_assert_num_queries, requester, "/api/v1/instances/", 3, page_size=12)
    assert (len(small), len(large)) == (2, 12)


def test_audit_and_queue_lists_queries_do_not_grow(people, api, orders, django_assert_num_queries):
    auditor = api(people["auditor"])
    auditor.get("/api/v1/audit-events/")
    # 1 API key + user, 2 the user's own and group permissions in one UNION (HasAuditAccess; the
    # selector's check reuses the cached set), 3 the page.
    small = _count_queries(django_assert_num_queries, auditor, "/api/v1/audit-events/", 3, page_size=2)
    large = _count_queries(django_assert_num_queries, auditor, "/api/v1/audit-events/", 3, page_size=40)
    assert (len(small), len(large)) == (2, 40)

    manager = api(people["manager"])
    manager.get("/api/v1/queues/")
    # 1 API key + user, 2 every visible queue with its three counts, however many queues.
    queues = _count_queries(django_assert_num_queries, manager, "/api/v1/queues/", 2)
    assert len(queues) == Queue.objects.count() > 1  # managers manage every standard queue
    assert sum(q["open"] for q in queues) == HumanTask.objects.filter(state="open").count()


def test_audit_export_streams_csv_and_json_lines(people, api, orders):
    import csv
    import io
    import json

    auditor = api(people["auditor"])
    response = auditor.get("/api/v1/audit-events/export/", {"format": "jsonl", "action": "instance.started"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/jsonl"
    lines = b"".join(response.streaming_content).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(row["data"]["business_key"] for row in rows) == [f"PO-L-{n:02}" for n in range(12)]

    response = auditor.get("/api/v1/audit-events/export/", {"format": "csv", "instance": orders[0]["id"]})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in table][:2] == ["instance.started", "instance.transitioned"]
    assert {row["instance_id"] for row in table} == {str(orders[0]["id"])}
    assert auditor.get("/api/v1/audit-events/export/", {"format": "xml"}).status_code == 400


def test_audit_export_streams_asynchronously_under_asgi(people, key_for, orders, monkeypatch):
    """Daphne serves Django over ASGI, where a synchronous iterator would be read whole into
    memory before sending; the export hands ASGI an asynchronous one, chunk by chunk."""
    import json

    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from apps.audit.models import AuditEvent
    from apps.core import streaming

    monkeypatch.setattr(streaming, "LINES_PER_CHUNK", 10)
    auth = {"Authorization": f"Api-Key {key_for(people['auditor'])}"}

    async def export():
        response = await AsyncClient().get("/api/v1/audit-events/export/", {"format": "jsonl"}, headers=auth)
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(export)()
    assert response.status_code == 200 and response.is_async
    rows = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    assert len(rows) == AuditEvent.objects.count() > 40
    assert len(chunks) == -(-len(rows) // 10)  # ten lines a chunk, sent as they are read


def test_instances_list_plan_stays_below_the_jit_threshold(people, api, orders):
    """The list's visibility rule is planned cheaply even without table statistics (a fresh
    database): a correlated EXISTS around the task-visibility subqueries was estimated at
    ~760,000, over PostgreSQL's jit_above_cost, and every call then spent seconds compiling."""
    for role in ("requester", "lead", "finance", "manager"):
        sql, params = instance_list(user=people[role]).order_by("-id")[:51].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit_above_cost")
            threshold = float(cursor.fetchone()[0])
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        cost = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Total Cost"]
        assert cost < threshold, f"{role}: instance list estimated at {cost:.0f} (JIT above {threshold:.0f})"
