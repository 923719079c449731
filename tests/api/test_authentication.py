"""API keys (hash only, command, admin, revocation), OIDC bearer tokens, and who the audit log names."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.audit.models import AuditEvent
from tests.api.conftest import problem, start
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_create_api_key_prints_only_the_key_and_it_works(people):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "erp", stdout=out, stderr=err)
    raw_key = out.getvalue().strip()
    assert "\n" not in raw_key and raw_key.startswith("ak_")
    stored = ApiKey.objects.get(user=people["integration"])
    assert raw_key.startswith(stored.prefix) and raw_key not in (stored.hashed_key, stored.prefix)
    assert len(stored.hashed_key) == 64

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    response = start(client, "purchase_order", "ERP-1", purchase_order_data())
    assert response.status_code == 201, response.json()
    # The key acts as its user, and the audit log says a machine client did it.
    event = AuditEvent.objects.get(action="instance.started")
    assert (event.actor_id, event.actor_type) == (people["integration"].pk, "api_client")
    assert ApiKey.objects.get(pk=stored.pk).last_used_at is not None


def test_create_api_key_for_an_unknown_user_fails_without_printing_a_key(db):
    from django.core.management.base import CommandError

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("create_api_key", "ghost", stdout=out)
    assert out.getvalue() == ""


def test_revoked_keys_and_inactive_users_are_refused(people):
    api_key, raw_key = api_key_create(user=people["lead"], name="old", actor=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    assert client.get("/api/v1/queues/").status_code == 200
    api_key_revoke(api_key=api_key, actor=None)
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")
    assert AuditEvent.objects.filter(action="api_key.revoked", chain_key=f"user:{people['lead'].pk}").exists()

    _, other_key = api_key_create(user=people["lead2"], name="new", actor=None)
    people["lead2"].is_active = False
    people["lead2"].save()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")
    # A right prefix with a wrong secret is no key at all.
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key.split('.')[0]}.wrong")
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")


def test_admin_creates_lists_and_revokes_keys(people, admin_client):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"user": people["integration"].pk, "name": "ERP production"},
        follow=True,
    )
    assert response.status_code == 200
    shown = next(str(m) for m in response.context["messages"] if "ak_" in str(m))
    raw_key = next(word for word in shown.split() if word.startswith("ak_"))
    api_key = ApiKey.objects.get(name="ERP production")
    assert raw_key.startswith(api_key.prefix)
    assert api_key.prefix in admin_client.get("/admin/accounts/apikey/").content.decode()

    admin_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}, follow=True
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


@pytest.fixture
def bearer_tokens(identity_provider, monkeypatch):
    """The API as settings build it with OIDC configured: bearer tokens after API keys."""
    from rest_framework.views import APIView

    from apps.api.authentication import ApiKeyAuthentication, BearerTokenAuthentication

    monkeypatch.setattr(APIView, "authentication_classes", [ApiKeyAuthentication, BearerTokenAuthentication])
    return identity_provider


def userinfo_calls(provider) -> int:
    return provider.hits.count("/userinfo")


def test_oidc_bearer_token_acts_as_the_matching_user(people, identity_provider, bearer_tokens, settings):
    client = APIClient()
    # The same person as the browser's single sign-on: found by username, not by email.
    good_token = identity_provider.issue_token(
        {"sub": "42", "preferred_username": "lead", "email": "someone.else@example.com"}
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {good_token}")
    queues = client.get("/api/v1/queues/")
    assert queues.status_code == 200, queues.content
    assert [q["slug"] for q in queues.json()["results"]] == ["team-leads"]
    client.credentials(HTTP_AUTHORIZATION="Bearer stale-token")
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")

    people["lead"].is_active = False
    people["lead"].save()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {good_token}")
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")


LEAD_CLAIMS = {"sub": "42", "preferred_username": "lead", "email": "lead@example.com"}


def test_a_bearer_token_is_asked_about_once_per_cache_period(people, bearer_tokens, settings):
    settings.OIDC_USERINFO_CACHE_SECONDS = 60
    token = bearer_tokens.issue_token(LEAD_CLAIMS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    answers = [client.get("/api/v1/queues/").status_code for _ in range(5)]

    assert answers == [200] * 5
    assert userinfo_calls(bearer_tokens) == 1
    # Kept under a hash of the token; the token itself is no key of the cache.
    assert cache.get(f"oidc-userinfo:{hashlib.sha256(token.encode()).hexdigest()}")["sub"] == "42"
    assert cache.get(f"oidc-userinfo:{token}") is None

    # Another token of the same person is another entry: one more call.
    other = bearer_tokens.issue_token(LEAD_CLAIMS)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    assert client.get("/api/v1/queues/").status_code == 200
    assert userinfo_calls(bearer_tokens) == 2


def test_without_a_cache_period_every_request_asks_the_provider(people, bearer_tokens, settings):
    settings.OIDC_USERINFO_CACHE_SECONDS = 0
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_tokens.issue_token(LEAD_CLAIMS)}")

    assert [client.get("/api/v1/queues/").status_code for _ in range(3)] == [200] * 3
    assert userinfo_calls(bearer_tokens) == 3


def test_a_deactivated_user_is_refused_while_their_token_is_cached(people, bearer_tokens, settings):
    settings.OIDC_USERINFO_CACHE_SECONDS = 60
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_tokens.issue_token(LEAD_CLAIMS)}")
    assert client.get("/api/v1/queues/").status_code == 200

    people["lead"].is_active = False
    people["lead"].save()

    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")
    assert userinfo_calls(bearer_tokens) == 1  # refused by the local account, not by the provider


def test_a_refused_token_is_not_cached(people, bearer_tokens, settings):
    settings.OIDC_USERINFO_CACHE_SECONDS = 60
    token = bearer_tokens.issue_token(LEAD_CLAIMS)
    bearer_tokens.revoke(token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    for _ in range(2):
        problem(client.get("/api/v1/queues/"), 401, "authentication-failed")
    assert userinfo_calls(bearer_tokens) == 2


def test_the_cache_ends_with_the_tokens_expiry(people, bearer_tokens, settings):
    settings.OIDC_USERINFO_CACHE_SECONDS = 60
    token = bearer_tokens.issue_token(LEAD_CLAIMS, expires_in=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/queues/").status_code == 200
    assert client.get("/api/v1/queues/").status_code == 200
    assert userinfo_calls(bearer_tokens) == 1

    # Past the token's `exp` (long before the 60 s period ends) the provider is asked again,
    # and refuses it.
    time.sleep(3.2)
    problem(client.get("/api/v1/queues/"), 401, "authentication-failed")
    assert userinfo_calls(bearer_tokens) == 2
