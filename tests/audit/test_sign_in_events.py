"""Signing in, signing out and failing to sign in are audit events: each person's on their
own chain, failures on one shared chain (there may be no person to pin them to)."""

from __future__ import annotations

import json

import pytest

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def actions_on(chain_key: str) -> list[tuple[str, int | None, str]]:
    events = AuditEvent.objects.filter(chain_key=chain_key).order_by("seq")
    return list(events.values_list("action", "actor_id", "actor_type"))


def test_signing_in_and_out_is_recorded_on_the_persons_own_chain(client, people):
    lead = people["lead"]

    assert client.login(username="lead", password=PASSWORD)
    client.logout()

    assert actions_on(f"user:{lead.pk}") == [
        ("auth.signed_in", lead.pk, "user"),
        ("auth.signed_out", lead.pk, "user"),
    ]
    assert audit_chain_first_break()[1] is None


def test_signing_in_at_the_login_page_records_the_address_and_request(client, people):
    lead = people["lead"]

    signed_in = client.post(
        "/accounts/login/",
        {"username": "lead", "password": PASSWORD},
        REMOTE_ADDR="203.0.113.9",
        headers={"X-Request-ID": "req-sign-in-1"},
    )
    signed_out = client.post("/accounts/logout/", REMOTE_ADDR="203.0.113.9")

    assert (signed_in.status_code, signed_out.status_code) == (302, 302)
    events = AuditEvent.objects.filter(chain_key=f"user:{lead.pk}").order_by("seq")
    assert [(e.action, e.source_ip) for e in events] == [
        ("auth.signed_in", "203.0.113.9"),
        ("auth.signed_out", "203.0.113.9"),
    ]
    assert events[0].request_id == "req-sign-in-1"


def test_a_failed_sign_in_is_recorded_with_the_name_tried_but_never_the_password(client, people):
    page = client.post(
        "/accounts/login/", {"username": "lead", "password": "not-my-password"}, REMOTE_ADDR="198.51.100.4"
    )
    assert not client.login(username="nobody-by-this-name", password="guess")

    assert page.status_code == 200  # the form again, with its error
    failures = list(AuditEvent.objects.filter(chain_key="auth:failures").order_by("seq"))
    assert [(e.action, e.actor_id, e.actor_type, e.data) for e in failures] == [
        ("auth.sign_in_failed", None, "system", {"username": "lead"}),
        ("auth.sign_in_failed", None, "system", {"username": "nobody-by-this-name"}),
    ]
    assert failures[0].source_ip == "198.51.100.4"
    assert "not-my-password" not in json.dumps([e.data for e in failures])
    assert not AuditEvent.objects.filter(action="auth.signed_in").exists()
    assert audit_chain_first_break()[1] is None
