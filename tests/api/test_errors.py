"""Every error class the API answers, as RFC 9457 problem+json, and that bad input writes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.workflows.models import WorkflowInstance
from tests.api.conftest import problem, start
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def order(people, api) -> dict:
    response = start(api(people["requester"]), "purchase_order", "PO-ERR-1", purchase_order_data(100))
    assert response.status_code == 201
    return response.json()


def lead_task_id(api, people, order) -> int:
    return api(people["lead"]).get("/api/v1/tasks/", {"instance": order["id"]}).json()["results"][0]["id"]


def test_400_malformed_json_writes_nothing(people, api):
    response = api(people["requester"]).post(
        "/api/v1/instances/", data=b'{"kind": "purchase_order", ', content_type="application/json"
    )
    problem(response, 400, "malformed-request")
    assert not WorkflowInstance.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "purchase_order", "business_key": "PO-X", "data": "not an object"}, "data"),
        ({"kind": ["purchase_order"], "business_key": "PO-X", "data": {}}, "kind"),
        ({"kind": "purchase_order", "business_key": "PO-X", "data": {}, "priority": 9}, "priority"),
        ({"business_key": "PO-X", "data": {}}, "kind"),
        ([1, 2, 3], "non_field_errors"),
    ],
)
def test_400_wrong_types_missing_and_unknown_fields(people, api, body, field):
    response = api(people["requester"]).post("/api/v1/instances/", body, format="json")
    body = problem(response, 400, "validation-error")
    assert field in body["errors"], body
    assert not WorkflowInstance.objects.exists()


def test_400_data_failing_the_kind_schema_names_the_field(people, api):
    response = start(
        api(people["requester"]), "purchase_order", "PO-X", purchase_order_data(-5, currency="euro")
    )
    body = problem(response, 400, "invalid-process-data")
    assert set(body["errors"]) == {"amount", "currency"}
    assert not WorkflowInstance.objects.exists()


def test_400_unknown_kind_and_bad_query_parameters(people, api):
    client = api(people["requester"])
    problem(start(client, "invoice_exception", "INV-1", {}), 400, "unknown-process-kind")
    problem(client.get("/api/v1/tasks/", {"page_size": "lots"}), 400, "validation-error")
    problem(client.get("/api/v1/tasks/", {"page_size": 5000}), 400, "validation-error")
    problem(client.get("/api/v1/tasks/", {"state": "sleeping"}), 400, "validation-error")
    problem(client.get("/api/v1/tasks/", {"cursor": "%%%"}), 400, "validation-error")
    problem(client.get("/api/v1/instances/", {"started_after": "yesterday"}), 400, "validation-error")
    problem(client.get("/api/v1/instances/", {"cursor": "garbage"}), 400, "validation-error")
    problem(client.get("/api/v1/instances/", {"colour": "blue"}), 400, "validation-error")


@pytest.mark.parametrize("position", ["abc", "1e5", "2026-01-01"])
def test_400_for_a_well_formed_cursor_whose_position_is_not_an_id(people, api, position):
    # A cursor is base64 of o=&r=&p=; one decoded by hand and rewritten must not reach the query.
    cursor = base64.b64encode(f"o=0&r=0&p={position}".encode()).decode()
    problem(api(people["requester"]).get("/api/v1/instances/", {"cursor": cursor}), 400, "validation-error")
    problem(api(people["auditor"]).get("/api/v1/audit-events/", {"cursor": cursor}), 400, "validation-error")


def test_401_without_or_with_a_bad_key(people, api, client):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    response = anonymous.get("/api/v1/tasks/")
    problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"].startswith("Api-Key")
    anonymous.credentials(HTTP_AUTHORIZATION="Api-Key ak_000000000000.not-a-real-key")
    problem(anonymous.get("/api/v1/tasks/"), 401, "authentication-failed")
    anonymous.credentials(HTTP_AUTHORIZATION="Api-Key")
    problem(anonymous.get("/api/v1/tasks/"), 401, "authentication-failed")


def test_403_may_see_but_not_act(people, api, order):
    problem(
        start(api(people["lead"]), "purchase_order", "PO-LEAD", purchase_order_data()), 403, "not-permitted"
    )
    task_id = lead_task_id(api, people, order)
    # The manager sees the team leads' queue but does not work it.
    problem(api(people["manager"]).post(f"/api/v1/tasks/{task_id}/claim/"), 403, "not-permitted")
    # Four-eyes: the requester, even were they a team lead, may not decide their own order.
    problem(
        api(people["lead"]).post(f"/api/v1/instances/{order['id']}/transitions/cancel/"), 403, "not-permitted"
    )
    problem(api(people["lead"]).get("/api/v1/audit-events/"), 403, "permission-denied")


def test_404_for_objects_out_of_reach_and_malformed_ids(people, api, order):
    task_id = lead_task_id(api, people, order)
    finance = api(people["finance"])
    problem(finance.get(f"/api/v1/tasks/{task_id}/"), 404, "not-found")
    problem(finance.post(f"/api/v1/tasks/{task_id}/claim/"), 404, "not-found")
    problem(finance.get(f"/api/v1/instances/{order['id']}/"), 404, "not-found")
    problem(finance.post(f"/api/v1/instances/{order['id']}/transitions/cancel/"), 404, "not-found")
    for bad in ("abc", "0", "-1", "99999999999999999999999", str(2**63)):
        problem(finance.get(f"/api/v1/tasks/{bad}/"), 404, "not-found")
        problem(finance.get(f"/api/v1/instances/{bad}/"), 404, "not-found")
        problem(finance.post(f"/api/v1/tasks/{bad}/claim/"), 404, "not-found")
    # Someone who can see it gets it: the 404 was about reach, not existence.
    assert api(people["lead"]).get(f"/api/v1/tasks/{task_id}/").status_code == 200


def test_409_claimed_by_someone_else_and_transition_not_allowed(people, api, order):
    task_id = lead_task_id(api, people, order)
    assert api(people["lead"]).post(f"/api/v1/tasks/{task_id}/claim/").status_code == 200
    body = problem(api(people["lead2"]).post(f"/api/v1/tasks/{task_id}/claim/"), 409, "task-conflict")
    assert "someone else" in body["detail"]
    problem(
        api(people["requester"]).post(f"/api/v1/instances/{order['id']}/transitions/approve_by_team_lead/"),
        409,
        "transition-not-allowed",
    )
    problem(
        api(people["requester"]).post(f"/api/v1/instances/{order['id']}/transitions/fly/"),
        409,
        "transition-not-allowed",
    )
    problem(
        start(api(people["requester"]), "purchase_order", "PO-ERR-1", purchase_order_data()),
        409,
        "duplicate-business-key",
    )


def test_404_not_412_for_a_task_out_of_reach_whatever_if_match_says(people, api, order):
    """A version check that ran before the access check told outsiders the task existed,
    and its current version."""
    task_id = lead_task_id(api, people, order)
    finance, stale = api(people["finance"]), {"If-Match": '"99"'}
    for action, body in [
        ("claim", {}),
        ("unclaim", {}),
        ("complete", {"outcome": "approve"}),
        ("reassign", {"to_queue": "cfo", "reason": "Mine now"}),
        ("delegate", {"to_user": "finance2"}),
    ]:
        answer = finance.post(f"/api/v1/tasks/{task_id}/{action}/", body, format="json", headers=stale)
        assert "version" not in problem(answer, 404, "not-found")["detail"]
    bulk = finance.post(
        "/api/v1/tasks/bulk/",
        {"action": "complete", "items": [{"task": task_id, "outcome": "approve", "version": 99}]},
        format="json",
    ).json()
    assert bulk["results"][0]["status"] == 404


def test_412_stale_if_match_changes_nothing(people, api, order):
    lead = api(people["lead"])
    task_id = lead_task_id(api, people, order)
    read = lead.get(f"/api/v1/tasks/{task_id}/")
    etag = read["ETag"]
    assert lead.post(f"/api/v1/tasks/{task_id}/claim/", headers={"If-Match": etag}).status_code == 200
    stale = lead.post(
        f"/api/v1/tasks/{task_id}/complete/",
        {"outcome": "approve"},
        format="json",
        headers={"If-Match": etag},
    )
    problem(stale, 412, "stale-version")
    problem(
        lead.post(f"/api/v1/tasks/{task_id}/unclaim/", headers={"If-Match": "banana"}), 412, "stale-version"
    )
    assert lead.get(f"/api/v1/tasks/{task_id}/").json()["state"] == "claimed"
    requester = api(people["requester"])
    problem(
        requester.post(f"/api/v1/instances/{order['id']}/transitions/cancel/", headers={"If-Match": '"999"'}),
        412,
        "stale-version",
    )
    assert requester.get(f"/api/v1/instances/{order['id']}/").json()["state"] == "team_lead_review"


def test_413_for_a_body_over_the_limit(people, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    huge = json.dumps(
        {"kind": "purchase_order", "business_key": "PO-BIG", "data": {"description": "x" * 20_000}}
    )
    response = api(people["requester"]).post("/api/v1/instances/", data=huge, content_type="application/json")
    problem(response, 413, "request-too-large")
    assert not WorkflowInstance.objects.exists()


def test_415_for_a_body_that_is_not_json(people, api):
    response = api(people["requester"]).post(
        "/api/v1/instances/", data="kind=purchase_order", content_type="text/plain"
    )
    problem(response, 415, "unsupported-media-type")


def test_422_idempotency_key_reused_for_another_body(people, api):
    client = api(people["requester"])
    first = start(client, "purchase_order", "PO-IDEM-1", purchase_order_data(), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    other = start(client, "purchase_order", "PO-IDEM-2", purchase_order_data(), **{"Idempotency-Key": "k-1"})
    problem(other, 422, "idempotency-key-reused")
    assert WorkflowInstance.objects.count() == 1


def test_429_with_retry_after(people, api, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "client": "3/minute"}
    client = api(people["requester"])
    for _ in range(3):
        assert client.get("/api/v1/queues/").status_code == 200
    throttled = client.get("/api/v1/queues/")
    problem(throttled, 429, "throttled")
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Per client: the same person's other key is a different client, but the per-user limit still counts.
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "client": "1000/minute", "user": "5/minute"}
    assert client.get("/api/v1/queues/").status_code == 200
    problem(client.get("/api/v1/queues/"), 429, "throttled")


def test_unknown_paths_and_methods_are_problems_too(people, api):
    client = api(people["requester"])
    problem(client.get("/api/v1/nothing-here/"), 404, "not-found")
    problem(client.post("/api/v1/tasks"), 404, "not-found")  # no trailing slash
    problem(APIClient().delete("/api/v1/instances/1/history/extra/"), 404, "not-found")
    problem(client.delete("/api/v1/instances/"), 405, "method-not-allowed")
    problem(client.put("/api/v1/tasks/1/claim/", {}, format="json"), 405, "method-not-allowed")


def test_throttling_falls_back_to_the_process_own_windows_when_its_redis_is_unreachable(
    people, api, settings
):
    import socket

    with socket.socket() as probe:  # a loopback port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "client": "2/minute"}
    client = api(people["requester"])
    # The API keeps answering, and the limit still holds within this process.
    assert [client.get("/api/v1/queues/").status_code for _ in range(3)] == [200, 200, 429]


def test_a_refused_decision_writes_nothing(people, api, order):
    from apps.audit.models import AuditEvent

    lead = api(people["lead"])
    task_id = lead_task_id(api, people, order)
    events_before = AuditEvent.objects.count()
    problem(
        lead.post(f"/api/v1/tasks/{task_id}/complete/", {"outcome": "maybe"}, format="json"),
        400,
        "invalid-decision",
    )
    body = problem(
        lead.post(f"/api/v1/tasks/{task_id}/complete/", {"outcome": "reject"}, format="json"),
        400,
        "invalid-decision",
    )
    assert body["errors"] == {"comment": ["This field is required."]}
    problem(
        lead.post(  # only the approving outcome takes data
            f"/api/v1/tasks/{task_id}/complete/",
            {"outcome": "reject", "comment": "No", "data": {"x": 1}},
            format="json",
        ),
        400,
        "invalid-decision",
    )
    task = lead.get(f"/api/v1/tasks/{task_id}/").json()
    assert (task["state"], task["version"]) == ("open", 1)
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize(
    "data",
    [
        pytest.param('{"reason": "\\ud800"}', id="lone-surrogate-value"),
        pytest.param('{"\\udfff": "why"}', id="lone-surrogate-key"),
        pytest.param('{"reason": 1e400}', id="infinite-number"),
    ],
)
def test_400_transition_data_the_database_cannot_store_writes_nothing(people, api, order, data):
    before = AuditEvent.objects.count()
    response = api(people["requester"]).post(
        f"/api/v1/instances/{order['id']}/transitions/cancel/",
        data=f'{{"data": {data}}}',
        content_type="application/json",
    )
    problem(response, 400, "invalid-process-data")
    assert WorkflowInstance.objects.get(pk=order["id"]).state == "team_lead_review"
    assert AuditEvent.objects.count() == before


def test_400_for_json_nested_too_deep_to_parse(people, api, order):
    deep = "[" * 100_000 + "]" * 100_000
    response = api(people["requester"]).post(
        f"/api/v1/instances/{order['id']}/transitions/cancel/",
        data=f'{{"data": {{"reason": {deep}}}}}',
        content_type="application/json",
    )
    problem(response, 400, "malformed-request")
    assert WorkflowInstance.objects.get(pk=order["id"]).state == "team_lead_review"
