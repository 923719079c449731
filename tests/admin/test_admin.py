from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from guardian.shortcuts import get_perms

from apps.accounts.services import api_key_create
from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask, Queue
from tests.factories import UserFactory, start_purchase_order

pytestmark = pytest.mark.django_db

READ_ONLY = ("workflows_workflowinstance", "humantasks_humantask", "audit_auditevent")


@pytest.fixture
def order(people):
    return start_purchase_order(people["requester"], amount=900, business_key="PO-ADMIN-1")


@pytest.fixture
def superuser(queues):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def object_of(model_url: str, order) -> object:
    return {
        "workflows_workflowinstance": order,
        "humantasks_humantask": HumanTask.objects.filter(instance=order).first(),
        "audit_auditevent": AuditEvent.objects.filter(instance=order).first(),
    }[model_url]


@pytest.mark.parametrize("model_url", READ_ONLY)
def test_superusers_read_but_cannot_add_change_or_delete(client, superuser, order, model_url):
    client.force_login(superuser)
    target = object_of(model_url, order)
    events_before = AuditEvent.objects.count()

    assert client.get(reverse(f"admin:{model_url}_changelist")).status_code == 200
    change_url = reverse(f"admin:{model_url}_change", args=[target.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(reverse(f"admin:{model_url}_add")).status_code == 403
    assert client.post(change_url, {}).status_code == 403
    assert (
        client.post(reverse(f"admin:{model_url}_delete", args=[target.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.count() == events_before
    assert type(target).objects.filter(pk=target.pk).exists()


def test_instance_page_lists_its_tasks_and_data(client, superuser, order):
    client.force_login(superuser)
    page = client.get(reverse("admin:workflows_workflowinstance_change", args=[order.pk])).content.decode()

    assert "Team lead approval: purchase order PO-ADMIN-1" in page
    assert "Acme Tools" in page


def test_lists_filter_and_search(client, superuser, order, people):
    start_purchase_order(people["requester"], business_key="PO-ADMIN-2")
    client.force_login(superuser)

    found = client.get(reverse("admin:workflows_workflowinstance_changelist"), {"q": "PO-ADMIN-2"})
    assert found.context["cl"].result_count == 1
    by_state = client.get(reverse("admin:humantasks_humantask_changelist"), {"state__exact": "completed"})
    assert by_state.context["cl"].result_count == 0
    by_action = client.get(reverse("admin:audit_auditevent_changelist"), {"action__exact": "task.created"})
    assert by_action.context["cl"].result_count == 2


def test_auditors_read_the_admin_and_change_nothing(client, people, order):
    auditor = people["auditor"]
    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)

    for model_url in READ_ONLY:
        assert client.get(reverse(f"admin:{model_url}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:{model_url}_add")).status_code == 403
    assert client.get(reverse("admin:humantasks_queue_changelist")).status_code == 403


def test_a_queue_added_in_the_admin_gets_its_grants_and_audit_event(client, superuser):
    role, managers = Group.objects.create(name="Legal"), Group.objects.get(name="Managers")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:humantasks_queue_add"),
        {
            "slug": "legal",
            "name": "Legal review",
            "description": "",
            "role": role.pk,
            "managers": managers.pk,
        },
    )

    assert response.status_code == 302
    queue = Queue.objects.get(slug="legal")
    assert get_perms(role, queue) == ["work_on_queue"]
    assert get_perms(managers, queue) == ["manage_queue"]
    assert AuditEvent.objects.filter(action="queue.created", chain_key="queue:legal").count() == 1


def test_an_existing_queue_keeps_its_role_when_edited(client, superuser, queues):
    queue = queues["finance"]
    other = Group.objects.get(name="CFO")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:humantasks_queue_change", args=[queue.pk]),
        {"name": "Finance approvals", "description": "Second level", "role": other.pk},
    )

    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.role.name) == ("Finance approvals", "Finance")
    assert (
        client.post(reverse("admin:humantasks_queue_delete", args=[queue.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_a_queues_sla_policy_is_kept_when_added_and_when_edited(client, superuser, queues):
    role, managers = Group.objects.create(name="Legal"), Group.objects.get(name="Managers")
    client.force_login(superuser)
    form = {
        "slug": "legal",
        "name": "Legal review",
        "description": "",
        "role": role.pk,
        "managers": managers.pk,
    }

    added = client.post(
        reverse("admin:humantasks_queue_add"),
        {**form, "sla_priority_boost": "30", "sla_escalation_queue": queues["finance"].pk},
    )
    assert added.status_code == 302
    queue = Queue.objects.get(slug="legal")
    assert (queue.sla_priority_boost, queue.sla_escalation_queue) == (30, queues["finance"])

    edited = client.post(
        reverse("admin:humantasks_queue_change", args=[queue.pk]),
        {
            "name": "Legal review",
            "description": "",
            "sla_priority_boost": "5",
            "sla_stale_claim_after": "04:00:00",
        },
    )
    assert edited.status_code == 302
    queue.refresh_from_db()
    assert queue.sla_priority_boost == 5
    assert queue.sla_stale_claim_after.total_seconds() == 4 * 3600
    assert queue.sla_escalation_queue is None


def test_revoking_api_keys_in_the_admin_needs_the_change_permission(client, people, superuser):
    """Someone who may only look at API keys in the admin cannot revoke them with the list action."""
    api_key, _raw = api_key_create(user=people["integration"], name="ERP", actor=None)
    watcher = UserFactory(username="watcher", is_staff=True)
    watcher.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(watcher)
    changelist = reverse("admin:accounts_apikey_changelist")
    assert client.get(changelist).status_code == 200

    client.post(changelist, {"action": "revoke", "_selected_action": [api_key.pk], "index": 0})

    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()

    client.force_login(superuser)
    client.post(changelist, {"action": "revoke", "_selected_action": [api_key.pk], "index": 0})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_confidential_tasks_stay_out_of_the_admin_for_those_not_granted(client, people, superuser, order):
    from apps.humantasks.services import task_grant

    secret = HumanTask.objects.filter(instance=order).first()
    HumanTask.objects.filter(pk=secret.pk).update(is_confidential=True)
    plain = HumanTask.objects.create(
        instance=order,
        process_kind=order.kind,
        queue=secret.queue,
        step=secret.step,
        activation=secret.activation,
        title="A plain task",
        due_at=secret.due_at,
    )
    auditor = people["auditor"]
    auditor.is_staff = True
    auditor.save()

    client.force_login(superuser)
    listed = client.get(reverse("admin:humantasks_humantask_changelist")).context["cl"].result_list
    assert list(listed) == [plain]
    assert client.get(reverse("admin:humantasks_humantask_change", args=[secret.pk])).status_code == 302
    inline = client.get(reverse("admin:workflows_workflowinstance_change", args=[order.pk]))
    assert "A plain task" in inline.content.decode() and secret.title not in inline.content.decode()

    task_grant(task=HumanTask.objects.get(pk=secret.pk), user=superuser, actor=None, can_work=False)
    assert client.get(reverse("admin:humantasks_humantask_change", args=[secret.pk])).status_code == 200


def test_auditors_read_confidential_tasks_in_the_admin_as_everywhere_else(client, people, order):
    secret = HumanTask.objects.filter(instance=order).first()
    HumanTask.objects.filter(pk=secret.pk).update(is_confidential=True)
    auditor = people["auditor"]
    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)
    listed = client.get(reverse("admin:humantasks_humantask_changelist")).context["cl"].result_list
    assert secret in list(listed)
    assert client.get(reverse("admin:humantasks_humantask_change", args=[secret.pk])).status_code == 200


def test_staff_create_webhook_endpoints_for_themselves_only(client, people):
    """An endpoint hears what its owner may see: staff who could name another owner would
    receive that person's events (an auditor's: every confidential task) at their own URL."""
    from apps.webhooks.models import WebhookEndpoint

    staff = people["outsider"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="webhooks", codename__in=("add_webhookendpoint", "view_webhookendpoint")
        )
    )
    client.force_login(staff)
    answer = client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {
            "owner": people["auditor"].pk,
            "url": "https://receiver.example.com/hooks",
            "description": "",
            "event_types": ["task.created"],
            "enabled": "on",
        },
    )
    assert answer.status_code == 302
    assert list(WebhookEndpoint.objects.values_list("owner__username", flat=True)) == ["outsider"]
