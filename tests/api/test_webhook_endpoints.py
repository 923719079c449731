"""/api/v1/webhook-endpoints/: an endpoint is its owner's alone; bad input is a problem+json
400 that writes nothing; the secret is shown on creation and rotation only."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import problem
from tests.webhooks.receiver import receiver  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db]

URL = "/api/v1/webhook-endpoints/"


def bad_request(response):
    """A 400 problem, from the input's shape (validation-error) or the subscription's rules."""
    code = response.json().get("code") if response.status_code == 400 else "?"
    assert code in {"validation-error", "invalid-webhook-endpoint"}, response.content[:300]
    return problem(response, 400, code)


def create(client, **fields):
    body = {"url": "https://erp.example.com/hooks", "event_types": ["task.created"], **fields}
    return client.post(URL, body, format="json")


def test_create_read_update_delete(people, api):
    client = api(people["integration"])
    created = create(
        client, event_types=["instance.transitioned", "task.completed"], process_kinds=["purchase_order"]
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert created["Location"] == f"{URL}{body['id']}/" and created["ETag"] == '"1"'
    Webhook(body["secret"])  # a secret the package accepts

    read = client.get(f"{URL}{body['id']}/")
    assert read.status_code == 200 and read["ETag"] == '"1"'
    assert "secret" not in read.json() and read.json()["event_types"] == [
        "instance.transitioned",
        "task.completed",
    ]

    stale = client.patch(
        f"{URL}{body['id']}/", {"enabled": False}, format="json", headers={"If-Match": '"7"'}
    )
    problem(stale, 412, "stale-version")
    changed = client.patch(
        f"{URL}{body['id']}/", {"enabled": False}, format="json", headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False and changed["ETag"] == '"2"'

    listed = client.get(URL)
    assert [e["id"] for e in listed.json()["results"]] == [body["id"]] and listed.json()["next"] is None

    assert client.delete(f"{URL}{body['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_another_users_endpoint_is_not_found(people, api):
    mine = create(api(people["integration"])).json()["id"]
    other = api(people["lead"])
    for response in (
        other.get(f"{URL}{mine}/"),
        other.patch(f"{URL}{mine}/", {"enabled": False}, format="json"),
        other.delete(f"{URL}{mine}/"),
        other.post(f"{URL}{mine}/rotate-secret/", {}, format="json"),
        other.post(f"{URL}{mine}/ping/", {}, format="json"),
        other.get(f"{URL}{mine}/deliveries/"),
    ):
        problem(response, 404, "not-found")
    assert other.get(URL).json()["results"] == []
    assert WebhookEndpoint.objects.get(pk=mine).enabled
    problem(other.get(f"{URL}not-a-number/"), 404, "not-found")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_types": ["task.exploded"]}, "event_types.0"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "task.created"}, "event_types"),
        ({"url": "ftp://erp.example.com/hooks"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://erp.example.com/" + "x" * 3000}, "url"),
        # A port no connection can use: refused now rather than failing every attempt later.
        ({"url": "https://erp.example.com:99999/hooks"}, "url"),
        ({"url": "https://erp.example.com:0/hooks"}, "url"),
        ({"process_kinds": ["no_such_kind"]}, "process_kinds.0"),
        ({"enabled": "maybe"}, "enabled"),
        ({"description": "d" * 5000}, "description"),
        ({"event_types": ["task.created"] * 500}, "event_types"),
        ({"secret": "whsec_mine"}, "secret"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(people, api, fields, field):
    body = bad_request(create(api(people["integration"]), **fields))
    assert field in body["errors"], body
    assert not WebhookEndpoint.objects.exists()


def test_http_urls_are_refused_unless_allowed(people, api, settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    body = bad_request(create(api(people["integration"]), url="http://erp.example.com/hooks"))
    assert "https" in body["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_rotate_secret_shows_the_new_one_once(people, api):
    client = api(people["integration"])
    first = create(client).json()
    rotated = client.post(f"{URL}{first['id']}/rotate-secret/", {}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != first["secret"]
    assert rotated.json()["previous_secret_valid_until"]
    assert "secret" not in client.get(f"{URL}{first['id']}/").json()


def test_ping_and_the_delivery_log_and_redelivery(people, api, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    client = api(people["integration"])
    endpoint = create(client, url=receiver.url).json()
    with django_capture_on_commit_callbacks(execute=True):
        pinged = client.post(f"{URL}{endpoint['id']}/ping/", {}, format="json")
    assert pinged.status_code == 202 and pinged.json()["event_type"] == "webhook.ping"
    request = receiver.received()[0]
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers)["type"] == "webhook.ping"

    log = client.get(f"{URL}{endpoint['id']}/deliveries/").json()["results"]
    assert log[0]["state"] == "succeeded" and log[0]["attempt_log"][0]["status_code"] == 200
    assert log[0]["webhook_id"] == request.webhook_id

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"{URL}{endpoint['id']}/deliveries/{log[0]['id']}/redeliver/", {}, format="json")
    assert again.status_code == 202 and again.json()["redeliveries"] == 1
    assert [r.webhook_id for r in receiver.received()] == [request.webhook_id] * 2
    assert len(client.get(f"{URL}{endpoint['id']}/deliveries/{log[0]['id']}/").json()["attempt_log"]) == 2

    WebhookDelivery.objects.update(state="failed")
    with django_capture_on_commit_callbacks(execute=True):
        ranged = client.post(
            f"{URL}{endpoint['id']}/redeliver/",
            {"created_after": "2000-01-01T00:00:00Z", "created_before": "2100-01-01T00:00:00Z"},
            format="json",
        )
    assert ranged.status_code == 202 and ranged.json() == {"count": 1}
    assert len(receiver.received()) == 3
    problem(
        client.post(
            f"{URL}{endpoint['id']}/redeliver/",
            {"created_after": "2100-01-01T00:00:00Z", "created_before": "2000-01-01T00:00:00Z"},
            format="json",
        ),
        400,
        "validation-error",
    )


def test_the_list_reads_in_a_fixed_number_of_queries(people, api, django_assert_num_queries):
    client = api(people["integration"])
    for n in range(3):
        create(client, url=f"https://erp.example.com/{n}")
    # API key + its user (1), throttle-free session work (0), the page (1).
    with django_assert_num_queries(2):
        assert len(client.get(URL).json()["results"]) == 3


def test_a_secret_in_an_idempotent_answer_is_kept_encrypted_and_replayed(people, api):
    """The stored answer a retry replays holds the secret as the endpoint does: encrypted."""
    from apps.api.models import IdempotencyRecord

    client = api(people["integration"])
    body = {"url": "https://erp.example.com/hooks", "event_types": ["task.created"]}
    first = client.post(URL, body, format="json", headers={"Idempotency-Key": "create-1"})
    again = client.post(URL, body, format="json", headers={"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["secret"] == first.json()["secret"]
    pk = first.json()["id"]
    rotate = f"{URL}{pk}/rotate-secret/"
    rotated = client.post(rotate, {}, format="json", headers={"Idempotency-Key": "rotate-1"})
    replayed = client.post(rotate, {}, format="json", headers={"Idempotency-Key": "rotate-1"})
    assert rotated.status_code == replayed.status_code == 200
    assert replayed.json()["secret"] == rotated.json()["secret"] != first.json()["secret"]
    stored = str(list(IdempotencyRecord.objects.values_list("response_body", flat=True)))
    assert first.json()["secret"] not in stored and rotated.json()["secret"] not in stored
    assert WebhookEndpoint.objects.count() == 1
