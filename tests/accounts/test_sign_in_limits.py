"""Too many failed sign-ins pause further attempts for that account from that address."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def sign_in(client, username, password, address="203.0.113.5"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_five_failures_even_the_right_password_is_refused_with_a_clear_message(
    client, people, settings
):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        assert "didn't match" in sign_in(client, "lead", "guess").content.decode()

    refused = sign_in(client, "lead", PASSWORD)

    assert refused.status_code == 200
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address, or another account from this one, is not held back.
    assert sign_in(client, "lead", PASSWORD, address="198.51.100.7").status_code == 302


def test_the_admin_sign_in_is_held_back_too(client, people, settings):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        sign_in(client, "auditor", "guess")
    people["auditor"].is_staff = True
    people["auditor"].save()

    response = client.post(
        reverse("admin:login"), {"username": "auditor", "password": PASSWORD}, REMOTE_ADDR="203.0.113.5"
    )

    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_many_accounts_tried_from_one_address_pause_that_address(client, people, settings):
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 3
    for username in ("lead", "lead2", "finance"):
        sign_in(client, username, "guess")

    assert "Too many failed sign-ins" in sign_in(client, "cfo", PASSWORD).content.decode()


def test_a_success_clears_the_accounts_failures(client, people, settings):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT - 1):
        sign_in(client, "lead", "guess")
    assert sign_in(client, "lead", PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT - 1):
        sign_in(client, "lead", "guess")
    assert sign_in(client, "lead", PASSWORD).status_code == 302


def test_the_pause_ends_with_its_window(client, people, settings):
    settings.SIGN_IN_FAILURE_WINDOW_SECONDS = 1
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        sign_in(client, "lead", "guess")
    assert "Too many failed sign-ins" in sign_in(client, "lead", PASSWORD).content.decode()

    import time

    time.sleep(1.2)
    assert sign_in(client, "lead", PASSWORD).status_code == 302


def test_guesses_sent_at_once_get_no_more_tries_than_the_limit(people, settings, rf):
    from concurrent.futures import ThreadPoolExecutor

    from django.core.exceptions import PermissionDenied

    from apps.accounts.backends import PasswordSignInBackend

    def guess(n: int) -> str:
        request = rf.post("/accounts/login/", REMOTE_ADDR="203.0.113.9")
        try:
            PasswordSignInBackend().authenticate(request, username="lead", password=f"guess-{n}")
        except PermissionDenied:
            return "refused"
        return "tried"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(40)))

    assert outcomes.count("tried") == settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT
