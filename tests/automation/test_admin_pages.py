"""Step runs and outbox rows in the admin: listed for reading, never written there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.automation.models import StepRun
from apps.notifications.models import OutboxMessage
from tests.factories import UserFactory, start_account_activation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model_url", "model"), [("automation_steprun", StepRun), ("notifications_outboxmessage", OutboxMessage)]
)
def test_superusers_read_step_runs_and_outbox_rows_but_cannot_change_them(client, people, model_url, model):
    start_account_activation(people["integration"], business_key="ACC-ADM")
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    row = model.objects.first()

    listing = client.get(reverse(f"admin:{model_url}_changelist"))
    assert listing.status_code == 200 and str(row.pk) in listing.content.decode()
    assert client.get(reverse(f"admin:{model_url}_change", args=[row.pk])).status_code == 200
    assert client.get(reverse(f"admin:{model_url}_add")).status_code == 403
    assert (
        client.post(reverse(f"admin:{model_url}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    )
    assert model.objects.filter(pk=row.pk).exists()
