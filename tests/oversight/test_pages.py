"""The oversight pages: who may see them, what they show, and bad input (a 400, nothing written)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.oversight.models import ChainVerification
from tests.oversight.conftest import rejected_order

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def every_page(order) -> list[tuple[str, str]]:
    """(method, url) of every oversight page, fragment and export."""
    run = ChainVerification.objects.create(requested_by=order.requester, requested_at=timezone.now())
    return [
        ("get", "/oversight/"),
        ("get", f"/oversight/?business_key={order.business_key}"),
        ("get", "/oversight/events/"),
        ("get", f"/oversight/events/?business_key={order.business_key}"),
        ("get", "/oversight/events/export.csv"),
        ("get", "/oversight/events/export.jsonl"),
        ("get", f"/oversight/instances/{order.pk}/"),
        ("get", "/oversight/processes/purchase_order/"),
        ("get", "/oversight/verification/"),
        ("post", "/oversight/verification/start/"),
        ("get", f"/oversight/verification/{run.pk}/"),
        ("get", "/oversight/dashboard/"),
    ]


def test_staff_who_neither_audit_nor_manage_learn_nothing(people, staffer):
    order = rejected_order(people)
    pages = every_page(order)
    client = signed_in(staffer)  # signing in is an audit event of its own
    events_before = AuditEvent.objects.count()
    for method, url in pages:
        response = getattr(client, method)(url, HTTP_HX_REQUEST="true" if "verification/" in url else None)
        assert response.status_code == 404, url
        assert order.business_key not in body(response), url
    assert AuditEvent.objects.count() == events_before
    assert ChainVerification.objects.count() == 1  # the one every_page made


def test_signed_out_visitors_are_sent_to_sign_in(people):
    order = rejected_order(people)
    for method, url in every_page(order):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_auditors_reach_every_page(people):
    order = rejected_order(people)
    client = signed_in(people["auditor"])
    for method, url in every_page(order):
        response = getattr(client, method)(url)
        assert response.status_code in (200, 302), url


def test_managers_reach_search_story_and_dashboard_but_not_the_audit_log(people, finance_manager):
    order = rejected_order(people)
    client = signed_in(finance_manager)
    for method, url in every_page(order):
        response = getattr(client, method)(url)
        auditors_only = "/events/" in url or "/verification/" in url
        assert response.status_code == (404 if auditors_only else 200), url


def test_an_auditor_finds_an_order_by_business_key_and_reads_its_story(people):
    order = rejected_order(people, key="PO-STORY-9")
    rejected_order(people, key="PO-OTHER-1")
    client = signed_in(people["auditor"])

    found = body(client.get("/oversight/", {"business_key": "PO-STORY-9"}))
    assert f"/oversight/instances/{order.pk}/" in found and "PO-OTHER-1" not in found
    assert "<td>Purchase-order approval</td>" in found and "<td>Rejected</td>" in found
    assert ">purchase_order<" not in found and ">rejected<" not in found

    story = body(client.get(f"/oversight/instances/{order.pk}/"))
    assert "Moved from Finance review to Rejected (reject)" in story
    assert "decided “reject” on the finance approval task" in story
    assert "Over budget" in story
    # The order's figures as they were set at the start, as a diff from nothing.
    assert "<ins>9900</ins>" in story
    # Raw names stay out of the readable parts; the recorded event is one click away.
    assert "instance.transitioned" in story and "<details" in story
    assert 'data-state="rejected"' in story and 'class="state-current' in story


def test_the_story_folds_bookkeeping_away(people):
    order = rejected_order(people)
    task = order.tasks.filter(step="team_lead_approval").get()
    from apps.humantasks.services import task_grant

    task_grant(task=task, user=people["it"], actor=people["manager"])
    story = body(signed_in(people["auditor"]).get(f"/oversight/instances/{order.pk}/"))

    folded = story.split('<details class="bookkeeping">', 1)[1]
    assert "granted it access" in folded or "access to the team lead approval task" in folded
    assert "access to the team lead approval task" not in story.split('<details class="bookkeeping">', 1)[0]


def test_a_manager_sees_only_the_processes_of_the_queues_they_manage(people, finance_manager):
    big = rejected_order(people, key="PO-BIG")  # reached finance
    from apps.workflows.services import instance_start
    from tests.factories import purchase_order_data

    small = instance_start(
        kind="purchase_order",
        business_key="PO-SMALL",
        data=purchase_order_data(100),
        actor=people["requester"],
    )  # team leads only
    client = signed_in(finance_manager)

    listed = body(client.get("/oversight/", {"kind": "purchase_order"}))
    assert "PO-BIG" in listed and "PO-SMALL" not in listed
    assert client.get(f"/oversight/instances/{small.pk}/").status_code == 404
    assert client.get(f"/oversight/instances/{big.pk}/").status_code == 200


@pytest.mark.parametrize(
    "url, query",
    [
        ("/oversight/", {"kind": "no_such_kind"}),
        ("/oversight/", {"state": "'; DROP TABLE"}),
        ("/oversight/", {"since": "yesterday"}),
        ("/oversight/", {"since": "2026-05-02", "until": "2026-05-01"}),
        ("/oversight/", {"actor": "nobody-by-that-name"}),
        ("/oversight/", {"before": "-3"}),
        ("/oversight/", {"before": str(2**64)}),
        ("/oversight/events/", {"action": "DROP TABLE"}),
        ("/oversight/events/", {"business_key": "x" * 500}),
        ("/oversight/events/export.csv", {"until": "31-31-2026"}),
        ("/oversight/dashboard/", {"since": "2020-01-01", "until": "2026-01-01"}),
        ("/oversight/dashboard/", {"queue": "999999"}),
        ("/oversight/dashboard/", {"queue": "abc"}),
    ],
)
def test_bad_queries_are_form_errors_and_write_nothing(people, url, query):
    rejected_order(people)
    client = signed_in(people["auditor"])  # signing in is an audit event of its own
    events_before = AuditEvent.objects.count()
    response = client.get(url, query)

    assert response.status_code == 400
    assert 'class="error-summary"' in body(response)
    assert AuditEvent.objects.count() == events_before


def test_an_unknown_export_format_or_kind_is_not_found(people):
    client = signed_in(people["auditor"])
    assert client.get("/oversight/events/export.xlsx").status_code == 404
    assert client.get("/oversight/processes/no_such_kind/").status_code == 404
    assert client.get("/oversight/instances/999999999/").status_code == 404


def test_search_pages_are_keyset_pages_newest_first(people):
    orders = [rejected_order(people, key=f"PO-PAGE-{n:02}") for n in range(27)]
    client = signed_in(people["auditor"])

    first = body(client.get("/oversight/", {"kind": "purchase_order"}))
    assert "PO-PAGE-26" in first and "PO-PAGE-01" not in first
    assert f"before={orders[2].pk}" in first
    second = body(client.get("/oversight/", {"kind": "purchase_order", "before": orders[2].pk}))
    assert "PO-PAGE-01" in second and "PO-PAGE-00" in second and "PO-PAGE-02" not in second
    assert 'rel="next"' not in second


def test_the_export_streams_the_whole_search_as_csv_and_json_lines(people):
    order = rejected_order(people, key="PO-EXPORT")
    rejected_order(people, key="PO-NOT-EXPORTED")
    client = signed_in(people["auditor"])
    expected = list(AuditEvent.objects.filter(instance=order).order_by("id").values_list("id", flat=True))

    response = client.get("/oversight/events/export.csv", {"business_key": "PO-EXPORT"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [int(row["id"]) for row in rows] == expected

    response = client.get(
        "/oversight/events/export.jsonl", {"business_key": "PO-EXPORT", "action": "task.completed"}
    )
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert [line["action"] for line in lines] == ["task.completed", "task.completed"]
    assert {line["instance_id"] for line in lines} == {order.pk}


def test_the_event_search_filters_by_actor_action_and_time(people):
    order = rejected_order(people)
    client = signed_in(people["auditor"])

    page = body(client.get("/oversight/events/", {"actor": "finance", "action": "task.completed"}))
    decided = AuditEvent.objects.get(instance=order, action="task.completed", actor_label="finance")
    assert f"#{decided.pk}<" in page
    assert page.count("<code>task.completed</code>") == 1
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert "No event matches." in body(client.get("/oversight/events/", {"since": tomorrow}))


def test_the_task_page_shows_the_diagram_of_its_process(people):
    order = rejected_order(people)
    task = order.tasks.get(step="team_lead_approval")
    page = body(signed_in(people["lead"]).get(f"/tasks/{task.pk}/"))
    assert 'class="process-diagram"' in page and 'data-state="rejected"' in page
    assert "Now: <strong>Rejected</strong>" in page


def test_the_navigation_offers_oversight_to_overseers_only(people, staffer, finance_manager):
    assert "/oversight/dashboard/" in body(signed_in(people["auditor"]).get("/"))
    assert "/oversight/dashboard/" in body(signed_in(finance_manager).get("/"))
    assert "/oversight/" not in body(signed_in(staffer).get("/"))


def test_a_cancellation_reads_as_who_asked_for_it(people):
    from apps.workflows.services import instance_start, instance_transition
    from tests.factories import purchase_order_data

    order = instance_start(
        kind="purchase_order", business_key="PO-CANCEL", data=purchase_order_data(), actor=people["requester"]
    )
    instance_transition(instance=order, transition="cancel", actor=people["requester"])
    story = body(signed_in(people["auditor"]).get(f"/oversight/instances/{order.pk}/"))
    assert "requester asked to cancel; moved from Team lead review to Cancelled" in story


def test_a_manager_reads_the_story_without_confidential_tasks_and_an_auditor_with_them(people):
    from apps.workflows.services import instance_start
    from tests.factories import purchase_order_data
    from tests.process_steps import decide, open_task

    order = instance_start(
        kind="purchase_order", business_key="PO-SECRET", data=purchase_order_data(), actor=people["requester"]
    )
    decide(
        open_task(order, "team_lead_approval"), people["lead"], "request_changes", comment="Cheaper drills"
    )
    revise = "the revise order task was opened"

    as_manager = body(signed_in(people["manager"]).get(f"/oversight/instances/{order.pk}/"))
    assert "Cheaper drills" in as_manager and revise not in as_manager.lower()
    as_auditor = body(signed_in(people["auditor"]).get(f"/oversight/instances/{order.pk}/"))
    assert revise in as_auditor.lower()


def test_the_export_streams_asynchronously_under_asgi(people, monkeypatch):
    """Daphne serves Django over ASGI, where a synchronous iterator would be read whole into
    memory before sending; the export hands it an asynchronous one, chunk by chunk."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from apps.core import streaming

    for n in range(3):
        rejected_order(people, key=f"PO-ASGI-{n}")
    monkeypatch.setattr(streaming, "LINES_PER_CHUNK", 10)

    async def export():
        client = AsyncClient()
        await client.aforce_login(people["auditor"])
        response = await client.get("/oversight/events/export.jsonl")
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(export)()
    assert response.status_code == 200 and response.is_async
    rows = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    assert len(rows) == AuditEvent.objects.count() > 30
    assert len(chunks) == -(-len(rows) // 10)
