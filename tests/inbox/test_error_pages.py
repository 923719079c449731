"""Without DEBUG, the site answers with its own pages in its own layout."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.workflows.models import WorkflowInstance

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_post_over_the_limit_gets_the_413_page_and_starts_nothing(people, settings):
    settings.DEBUG = False
    client = signed_in(people["requester"])
    big = "x" * 1_200_000

    response = client.post(
        reverse("inbox:start", args=["purchase_order"]),
        {"amount": "1", "currency": "EUR", "supplier": "A", "description": big},
    )

    assert response.status_code == 413
    page = response.content.decode()
    assert "That was too large to accept" in page and "1,024 KB" in page
    assert f"({people['requester'].get_username()})" in page  # the layout, with who is signed in
    assert WorkflowInstance.objects.count() == 0


def test_an_unknown_task_gets_the_404_page(people, settings):
    settings.DEBUG = False

    response = signed_in(people["lead"]).get(reverse("inbox:task", args=[987_654]))

    assert response.status_code == 404
    assert "There is no such page, or it is not open to you." in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_a_refused_start_gets_the_403_page_with_the_reason(people, settings):
    settings.DEBUG = False

    response = signed_in(people["lead"]).get(reverse("inbox:start", args=["purchase_order"]))

    assert response.status_code == 403
    assert "You may not start: Purchase-order approval." in response.content.decode()


def test_a_malformed_request_gets_the_400_page(people, settings):
    settings.DEBUG = False

    response = signed_in(people["lead"]).get("/", HTTP_HOST="bad host!")

    assert response.status_code == 400
    assert "That request could not be understood" in response.content.decode()
