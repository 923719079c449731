"""Browser sign-in through the OpenID Connect provider: the authorization-code flow end to end
against the loopback provider (tests/identity_provider.py), and the provider's groups as roles."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group
from django.test import Client

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from tests.factories import start_purchase_order
from tests.identity_provider import IdentityProvider
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROLE_MAP = {"approvers-leads": "Team leads", "approvers-finance": "Finance", "it-staff": "IT"}


@pytest.fixture
def sso(settings, identity_provider: IdentityProvider) -> IdentityProvider:
    # What config/settings.py does when the provider's endpoints are in the environment.
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "apps.accounts.oidc.StaffOIDCBackend",
    ]
    settings.OIDC_ROLES_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = dict(ROLE_MAP)
    identity_provider.person = {
        "sub": "7d5e0c1a",
        "preferred_username": "dana",
        "email": "dana@example.com",
        "given_name": "Dana",
        "family_name": "Scully",
        "groups": ["approvers-leads", "staff-all"],
    }
    return identity_provider


def sign_in(client: Client, provider: IdentityProvider, **claims):
    """Press the button, sign in at the provider, come back: the callback's response."""
    provider.person = {**provider.person, **claims}
    provider.hits.clear()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert (back.scheme, back.netloc, back.path) == ("http", "testserver", "/oidc/callback/")
    return client.get(back.path, parse_qs(back.query))


def roles(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def role_events(username: str) -> list[dict]:
    user = User.objects.get(username=username)
    return list(
        AuditEvent.objects.filter(chain_key=f"user:{user.pk}", action="auth.roles_synced")
        .order_by("pk")
        .values_list("data", flat=True)
    )


def test_sign_in_creates_the_user_with_mapped_roles_and_opens_their_queue(client, people, sso):
    lead_task = open_task(start_purchase_order(people["requester"], business_key="PO-SSO-1"))
    assert lead_task.queue.slug == "team-leads"

    response = sign_in(client, sso)

    assert response.status_code == 302
    assert response["Location"] == "/"
    # The callback really asked the provider for the token and for who signed in.
    assert sso.hits == ["/authorize", "/token", "/userinfo"]
    dana = User.objects.get(username="dana")
    assert (dana.email, dana.first_name, dana.last_name) == ("dana@example.com", "Dana", "Scully")
    assert not dana.has_usable_password()
    assert roles("dana") == {"Team leads"}
    assert role_events("dana") == [{"user": "dana", "added": ["Team leads"], "removed": [], "source": "oidc"}]

    inbox = client.get("/")
    assert inbox.status_code == 200
    assert inbox.context["user"] == dana
    assert [task.pk for task in inbox.context["page"].tasks] == [lead_task.pk]


def test_the_next_page_survives_the_round_trip(client, people, sso):
    start = client.get("/oidc/authenticate/", {"next": "/tasks/1/"})
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_provider.headers["Location"])
    assert client.get(back.path, parse_qs(back.query))["Location"] == "/tasks/1/"


def test_signing_in_again_follows_the_changed_groups_and_leaves_other_roles_alone(client, people, sso):
    sign_in(client, sso)
    # A role given by hand, which the map does not mention, is none of the provider's business.
    User.objects.get(username="dana").groups.add(Group.objects.get(name="Auditors"))
    client.logout()

    response = sign_in(
        client, sso, groups=["approvers-finance", "staff-all"], email="dana.scully@example.com"
    )

    assert response.status_code == 302 and response["Location"] == "/"
    assert roles("dana") == {"Finance", "Auditors"}
    assert User.objects.get(username="dana").email == "dana.scully@example.com"
    assert role_events("dana")[-1] == {
        "user": "dana",
        "added": ["Finance"],
        "removed": ["Team leads"],
        "source": "oidc",
    }

    # The same groups again: the same roles and no new role event.
    client.logout()
    sign_in(client, sso, groups=["staff-all", "approvers-finance"])
    assert roles("dana") == {"Finance", "Auditors"}
    assert len(role_events("dana")) == 2


def test_a_user_with_no_mapped_group_signs_in_to_an_empty_inbox(client, people, sso):
    open_task(start_purchase_order(people["requester"], business_key="PO-SSO-2"))

    # "Team leads" is a role's name, not one of the provider's groups the map knows.
    response = sign_in(client, sso, groups=["staff-all", "Team leads"])

    assert response.status_code == 302 and response["Location"] == "/"
    assert roles("dana") == set()
    assert role_events("dana") == []
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert inbox.context["user"].username == "dana"
    assert list(inbox.context["page"].tasks) == []


def test_a_map_entry_naming_no_role_grants_nothing(client, people, settings, sso):
    Group.objects.create(name="Superusers")
    settings.OIDC_ROLE_MAP = {**ROLE_MAP, "admins": "Superusers", "it-staff": "It"}

    sign_in(client, sso, groups=["admins", "it-staff", "approvers-leads"])

    assert roles("dana") == {"Team leads"}
    assert not Group.objects.filter(name="It").exists()


def test_username_falls_back_to_sub_and_groups_may_be_one_string(client, people, sso):
    person = dict(sso.person)
    del person["preferred_username"]
    sso.person = {**person, "groups": "it-staff"}

    sign_in(client, sso)

    assert roles("7d5e0c1a") == {"IT"}


def test_a_forged_state_fails_cleanly_and_signs_nobody_in(client, people, sso):
    start = client.get("/oidc/authenticate/")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(at_provider.headers["Location"]).query)["code"][0]
    sso.hits.clear()

    response = client.get("/oidc/callback/", {"code": code, "state": "forged"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert sso.hits == []  # the code was never spent
    assert not User.objects.filter(username="dana").exists()
    assert client.get("/").status_code == 302  # still signed out
    page = client.get(response["Location"])
    assert "Single sign-on did not complete" in page.content.decode()

    # A callback with no sign-in started in this session at all.
    fresh = Client()
    refused = fresh.get("/oidc/callback/", {"code": code, "state": "forged"})
    assert refused["Location"] == "/accounts/login/?sso=failed"
    assert not User.objects.filter(username="dana").exists()


def test_a_deactivated_user_is_refused_and_keeps_their_roles(client, people, sso):
    sign_in(client, sso)
    User.objects.filter(username="dana").update(is_active=False)
    client.logout()

    response = sign_in(client, sso, groups=["approvers-finance"])

    assert response["Location"] == "/accounts/login/?sso=failed"
    assert roles("dana") == {"Team leads"}
    assert client.get("/").status_code == 302


def test_the_sign_in_page_offers_single_sign_on_only_when_configured(client, db, settings, sso):
    page = client.get("/accounts/login/")
    assert "Sign in with single sign-on" in page.content.decode()

    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = ""
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "Sign in with single sign-on" not in page.content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "x", "state": "y"}).status_code == 404


def test_an_unreachable_token_endpoint_returns_to_the_sign_in_page(client, people, settings, sso):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{closed.getsockname()[1]}/token"
        # Bound but not listening: the connection is refused.
        response = sign_in(client, sso)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert not User.objects.filter(username="dana").exists()


def test_signing_out_ends_the_providers_session_and_comes_back_to_the_sign_in_page(client, people, sso):
    sign_in(client, sso)
    assert sso.sessions == {"7d5e0c1a"}
    id_token = client.session["oidc_id_token"]

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    to_provider = urlsplit(response["Location"])
    assert f"{to_provider.scheme}://{to_provider.netloc}{to_provider.path}" == f"{sso.url}/logout"
    assert parse_qs(to_provider.query) == {
        "id_token_hint": [id_token],
        "post_logout_redirect_uri": ["http://testserver/accounts/login/"],
        "client_id": ["approval-inbox"],
    }
    assert client.get("/").status_code == 302  # signed out here before going there
    at_provider = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, at_provider.text
    assert at_provider.headers["Location"] == "http://testserver/accounts/login/"
    assert sso.sessions == set()


def test_signing_out_is_local_when_the_provider_ends_no_sessions(client, people, sso):
    sso.ends_sessions = False
    sign_in(client, sso)
    sso.hits.clear()

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert sso.hits == ["/.well-known/openid-configuration"]
    assert client.get("/").status_code == 302
    assert sso.sessions == {"7d5e0c1a"}  # the provider keeps its own; nothing to ask it


def test_a_password_sign_in_signs_out_locally_even_with_a_provider(client, people, sso):
    client.force_login(people["lead"])
    sso.hits.clear()

    response = client.post("/accounts/logout/")

    assert response["Location"] == "/accounts/login/"
    assert sso.hits == []  # no provider session to end, so it is not even asked
    assert client.get("/").status_code == 302


def test_an_unreachable_discovery_document_leaves_a_local_sign_out(client, people, settings, sso):
    sign_in(client, sso)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.OIDC_OP_DISCOVERY_ENDPOINT = f"http://127.0.0.1:{closed.getsockname()[1]}/.well-known/x"
        response = client.post("/accounts/logout/")

    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
