"""Deliveries to a real receiver on loopback, run in this process: signatures, retries,
410, timeouts, visibility, SSRF refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services.delivery import delivery_attempt
from apps.webhooks.services.endpoints import endpoint_create, endpoint_secret_rotate
from apps.workflows.services import instance_start
from tests.factories import purchase_order_data, start_purchase_order
from tests.webhooks.receiver import Answer

pytestmark = [pytest.mark.django_db]


def subscribe(owner, url, *types, **fields):
    return endpoint_create(owner=owner, url=url, event_types=list(types), actor=owner, **fields)


def start_order(people, capture, key="PO-1", amount=1200):
    with capture(execute=True):
        return start_purchase_order(people["requester"], amount=amount, business_key=key)


def due_now(delivery: WebhookDelivery) -> None:
    """Skip the backoff: the next attempt is due now."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_events_arrive_signed_and_verify_with_the_packages_verifier(
    people, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = subscribe(people["lead"], receiver.url, "task.created", "instance.transitioned")
    order = start_order(people, django_capture_on_commit_callbacks)

    requests = receiver.received()
    types = sorted(Webhook(secret).verify(r.body, r.headers)["type"] for r in requests)
    assert types == ["instance.transitioned", "task.created"]
    created = next(r for r in requests if b'"task.created"' in r.body)
    payload = Webhook(secret).verify(created.body, created.headers)
    assert payload["data"]["instance"] == order.pk
    assert payload["data"]["business_key"] == "PO-1"
    assert "notify_groups" not in payload["data"]
    assert payload["timestamp"] == payload["data"]["occurred_at"]
    # A changed body, or another endpoint's secret, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(created.body.replace(b"PO-1", b"PO-2"), created.headers)
    _, other_secret = subscribe(people["lead"], receiver.url, "task.created")
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(created.body, created.headers)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type="task.created")
    assert created.webhook_id == delivery.message_id
    assert delivery.state == "succeeded" and delivery.attempts == 1
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"


def test_a_receiver_that_fails_twice_gets_three_attempts_with_one_webhook_id(
    people, receiver, django_capture_on_commit_callbacks
):
    receiver.answer_with(Answer(500), Answer(503, headers=(("Retry-After", "120"),)))
    endpoint, secret = subscribe(people["lead"], receiver.url, "task.created")
    start_order(people, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == "pending" and delivery.attempts == 1
    # 5 s (+/-20%) after the first failure.
    assert timedelta(seconds=3) < delivery.next_attempt_at - timezone.now() < timedelta(seconds=7)
    assert delivery_attempt(delivery_id=delivery.pk) == "skipped", "not due yet"

    due_now(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    # The schedule says 5 minutes; Retry-After asked for 2: the longer wins.
    assert timedelta(minutes=3.9) < delivery.next_attempt_at - timezone.now() < timedelta(minutes=6.1)

    due_now(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    ids = {r.webhook_id for r in receiver.received()}
    assert len(receiver.received()) == 3 and ids == {delivery.message_id}
    for request in receiver.received():
        Webhook(secret).verify(request.body, request.headers)
    assert list(WebhookAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [
        500,
        503,
        200,
    ]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_timeout_is_a_failed_attempt_that_is_retried(
    people, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.answer_with(Answer(200, delay=2))
    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    start_order(people, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == "pending" and delivery.last_status is None
    assert delivery.last_error.startswith("timeout")
    due_now(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    assert len(receiver.received()) == 2


def test_410_disables_the_endpoint_and_tells_its_owner(people, receiver, django_capture_on_commit_callbacks):
    receiver.answer_with(Answer(410))
    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created", "instance.transitioned")
    start_order(people, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert (
        AuditEvent.objects.filter(action="webhook.endpoint_disabled", data__endpoint=endpoint.pk).count() == 1
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [people["lead"].email]
    # Nothing more goes to it: the other delivery waits for it to be enabled again.
    assert len(receiver.received()) == 1
    assert WebhookDelivery.objects.filter(endpoint=endpoint, state="pending").count() == 1


def test_an_endpoint_failing_for_days_is_disabled(people, receiver, django_capture_on_commit_callbacks):
    receiver.default = Answer(500)
    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=6))
    start_order(people, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "failed for 6 days" in endpoint.disabled_reason


def test_the_retry_schedule_runs_out_and_the_delivery_is_given_up(
    people, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_RETRY_SCHEDULE_SECONDS = [1.0, 1.0]
    receiver.default = Answer(500)
    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    start_order(people, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    for _ in range(2):
        due_now(delivery)
        delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 3


def test_an_owner_outside_the_queue_hears_nothing_of_its_tasks(
    people, receiver, django_capture_on_commit_callbacks
):
    outsider, _ = subscribe(
        people["finance"], receiver.url, "task.created", "task.claimed", "instance.transitioned"
    )
    lead, _ = subscribe(people["lead2"], receiver.url + "?lead", "task.created", "task.claimed")
    order = start_order(people, django_capture_on_commit_callbacks)
    task = HumanTask.objects.get(instance=order)
    with django_capture_on_commit_callbacks(execute=True):
        task_claim(task=task.pk, actor=people["lead"])
    assert not WebhookDelivery.objects.filter(endpoint=outsider).exists()
    assert sorted(WebhookDelivery.objects.filter(endpoint=lead).values_list("event_type", flat=True)) == [
        "task.claimed",
        "task.created",
    ]
    assert all(r.path == "/hooks?lead" for r in receiver.received())


def test_confidential_tasks_reach_only_endpoints_whose_owner_may_see_them(
    people, receiver, django_capture_on_commit_callbacks
):
    from apps.humantasks.services import task_grant

    lead, _ = subscribe(people["lead2"], receiver.url, "task.access_granted", "task.claimed")
    granted, _ = subscribe(people["cfo"], receiver.url + "?cfo", "task.access_granted", "task.claimed")
    order = start_order(people, django_capture_on_commit_callbacks)
    task = HumanTask.objects.get(instance=order)
    HumanTask.objects.filter(pk=task.pk).update(is_confidential=True)
    with django_capture_on_commit_callbacks(execute=True):
        task_grant(task=task, user=people["cfo"], actor=people["manager"])
    assert not WebhookDelivery.objects.filter(endpoint=lead).exists()
    assert WebhookDelivery.objects.filter(endpoint=granted, event_type="task.access_granted").exists()


def test_a_process_kind_filter_keeps_other_kinds_out(people, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = subscribe(
        people["auditor"], receiver.url, "instance.transitioned", process_kinds=["employee_onboarding"]
    )
    start_order(people, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


def test_a_repeated_event_makes_no_second_delivery(people, receiver, django_capture_on_commit_callbacks):
    from apps.notifications.models import OutboxMessage
    from apps.notifications.services import notification_deliver

    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    start_order(people, django_capture_on_commit_callbacks)
    row = OutboxMessage.objects.get(topic="task.created")
    with django_capture_on_commit_callbacks(execute=True):
        notification_deliver(
            message_id=row.pk, topic=row.topic, payload=row.payload, instance_id=row.instance_id
        )
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    assert len(receiver.received()) == 1


def test_a_url_resolving_to_a_private_address_is_refused(
    people, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    # "localhost" resolves (after DNS, here /etc/hosts) to loopback: refused at delivery time.
    url = receiver.url.replace("127.0.0.1", "localhost")
    endpoint, _ = subscribe(people["lead"], url, "task.created")
    start_order(people, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert receiver.received() == []
    assert (
        delivery.state == "pending" and "refused" in delivery.last_error and "loopback" in delivery.last_error
    )


def test_during_a_rotation_both_secrets_sign_until_the_overlap_ends(
    people, receiver, django_capture_on_commit_callbacks
):
    endpoint, old = subscribe(people["lead"], receiver.url, "task.created")
    endpoint, new = endpoint_secret_rotate(endpoint=endpoint, actor=people["lead"])
    start_order(people, django_capture_on_commit_callbacks, key="PO-1")
    first = receiver.received()[-1]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(first.body, first.headers)
    Webhook(new).verify(first.body, first.headers)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    start_order(people, django_capture_on_commit_callbacks, key="PO-2")
    second = receiver.received()[-1]
    Webhook(new).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(second.body, second.headers)


def test_the_secret_is_stored_encrypted(people, receiver):
    endpoint, secret = subscribe(people["lead"], receiver.url, "task.created")
    assert secret.startswith("whsec_")
    assert secret not in endpoint.secret_encrypted and secret[6:] not in endpoint.secret_encrypted


def test_an_event_whose_job_was_lost_is_fanned_out_by_the_catch_up(
    people, receiver, django_capture_on_commit_callbacks
):
    from apps.notifications.models import OutboxMessage
    from apps.webhooks.services.fan_out import events_catch_up

    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(created_at=timezone.now() - timedelta(hours=1))
    # The relay marked the rows dispatched, and their jobs vanished with the broker.
    instance_start(
        kind="purchase_order", business_key="PO-9", data=purchase_order_data(), actor=people["requester"]
    )
    OutboxMessage.objects.update(dispatched_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert events_catch_up() == 1
        assert events_catch_up() == 0, "seen once, never again"
    assert WebhookDelivery.objects.get(endpoint=endpoint).state == "succeeded"
    assert len(receiver.received()) == 1


def test_an_event_that_fails_to_fan_out_holds_back_no_other_and_the_catch_up_counts_only_what_went(
    people, receiver, django_capture_on_commit_callbacks, caplog
):
    from apps.notifications.models import OutboxMessage
    from apps.webhooks.services.fan_out import events_catch_up

    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(created_at=timezone.now() - timedelta(hours=1))
    instance_start(
        kind="purchase_order", business_key="PO-10", data=purchase_order_data(), actor=people["requester"]
    )
    good = OutboxMessage.objects.get(topic="task.created")
    # A row whose payload names its task wrongly (written by hand, or by an older release):
    # reading its task fails. It comes first, so the good event is fanned out after a failure.
    bad = OutboxMessage.objects.create(
        topic="task.created", payload={**good.payload, "task": "not a task id"}, instance=good.instance
    )
    OutboxMessage.objects.filter(pk=bad.pk).update(id=good.pk - 1000)
    OutboxMessage.objects.update(dispatched_at=timezone.now() - timedelta(minutes=2))

    with django_capture_on_commit_callbacks(execute=True):
        assert events_catch_up() == 1
    assert WebhookDelivery.objects.get(endpoint=endpoint).event_id == good.pk
    assert len(receiver.received()) == 1
    assert "failed in the catch-up" in caplog.text


def test_an_ordered_endpoint_gets_one_instances_events_one_at_a_time(
    people, receiver, django_capture_on_commit_callbacks
):
    receiver.answer_with(Answer(500))
    endpoint, _ = subscribe(
        people["lead"], receiver.url, "task.created", "task.claimed", ordered_by_instance=True
    )
    order = start_order(people, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        task_claim(task=HumanTask.objects.get(instance=order).pk, actor=people["lead"])
    created, claimed = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_id")
    assert (created.event_type, created.state, claimed.event_type) == (
        "task.created",
        "pending",
        "task.claimed",
    )
    # The claim waits while the creation is owed, even when it is due itself.
    assert claimed.attempts == 0 and delivery_attempt(delivery_id=claimed.pk) == "skipped"
    due_now(created)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=created.pk) == "succeeded"
    claimed.refresh_from_db()
    assert claimed.state == "succeeded"
    # The creation failed, then went again, and only then came the claim.
    assert [b'"task.created"' in r.body for r in receiver.received()] == [True, True, False]


def test_recording_an_attempt_locks_the_endpoint_before_the_delivery(people, receiver):
    """Deleting an endpoint locks it and then its deliveries (the cascade); recording an
    attempt must take the same order, or the two deadlock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.webhooks import targets
    from apps.webhooks.services.delivery import _attempt_record
    from apps.webhooks.services.endpoints import endpoint_ping

    endpoint, _ = subscribe(people["lead"], receiver.url, "task.created")
    delivery = endpoint_ping(endpoint=endpoint, actor=people["lead"])
    with CaptureQueriesContext(connection) as queries:
        _attempt_record(delivery=delivery, answer=targets.Answer(status_code=200, latency_ms=5))
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 2
    assert 'FROM "webhooks_webhookendpoint"' in locks[0] and 'FROM "webhooks_webhookdelivery"' in locks[1]
