"""Notifications for people: who gets one, once per event, and the escalation mail through a
real SMTP server on loopback (aiosmtpd) to a manager who is not online."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim
from apps.humantasks.timers import tasks_escalate_overdue, tasks_remind_assignees
from apps.notifications.models import Notification
from apps.notifications.services import notifications_for_people
from apps.workflows.services import instance_start
from tests.celery_workers import free_port
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.postgres]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield inbox
    controller.stop()


def overdue_task(people):
    instance = instance_start(
        kind="purchase_order",
        business_key="PO-LATE",
        data=purchase_order_data(100),
        actor=people["requester"],
    )
    task = HumanTask.objects.get(instance=instance)
    HumanTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(hours=1))
    return task


@pytest.mark.django_db
def test_the_escalation_mail_reaches_an_offline_manager_over_smtp(
    people, smtp_server, django_capture_on_commit_callbacks
):
    people["manager"].email = "manager@example.test"
    people["manager"].save()
    people["lead"].email_notifications = False  # opted out (and not a manager anyway)
    people["lead"].save()
    overdue_task(people)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks_escalate_overdue() == 1
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["manager@example.test"]
    assert b"Overdue: escalated" in mail.content
    notification = Notification.objects.get(user=people["manager"])
    assert notification.kind == "escalated" and notification.emailed_at is not None
    # The team leads' queue hears of it on its rows, not in anyone's bell.
    assert not Notification.objects.filter(user=people["lead"]).exists()


@pytest.mark.django_db
def test_a_reminder_reaches_the_holder_once_however_often_it_is_delivered(
    people, django_capture_on_commit_callbacks, mailoutbox
):
    people["lead"].email = "lead@example.test"
    people["lead"].save()
    instance = instance_start(
        kind="purchase_order",
        business_key="PO-SOON",
        data=purchase_order_data(100),
        actor=people["requester"],
    )
    task = HumanTask.objects.get(instance=instance)
    task_claim(task=task, actor=people["lead"])
    HumanTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks_remind_assignees() == 1
    [reminder] = Notification.objects.filter(user=people["lead"])
    assert reminder.kind == "reminder" and reminder.task_id == task.pk
    assert [m.to for m in mailoutbox] == [["lead@example.test"]]
    # The relay is at least once: the same event again makes nothing new.
    from apps.notifications.models import OutboxMessage

    row = OutboxMessage.objects.get(pk=reminder.message_id)
    assert notifications_for_people(message_id=row.pk, topic=row.topic, payload=row.payload) == 0
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_the_bell_rings_only_once_its_notifications_are_committed(people, django_capture_on_commit_callbacks):
    """Run inside a transaction (the relay's own, when the job runs eagerly), the people job
    rings the bell after the commit: a page that fetches the bell at once must find them."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.notifications.events import user_group
    from apps.notifications.models import OutboxMessage

    lead, requester = people["lead"], people["requester"]
    data = purchase_order_data(100)
    instance = instance_start(kind="purchase_order", business_key="PO-BELL", data=data, actor=requester)
    task = task_claim(task=HumanTask.objects.get(instance=instance), actor=lead)
    HumanTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=False):
        assert tasks_remind_assignees() == 1
    row = OutboxMessage.objects.get(topic="task.reminder")
    layer = get_channel_layer()
    page = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(lead.pk), page)

    async def heard(timeout: float) -> dict | None:
        try:
            return await asyncio.wait_for(layer.receive(page), timeout)
        except TimeoutError:
            return None

    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        assert notifications_for_people(message_id=row.pk, topic=row.topic, payload=row.payload) == 1
    assert async_to_sync(heard)(0.2) is None
    for callback in after_commit:
        callback()
    assert async_to_sync(heard)(2) == {"type": "live.control", "kind": "bell"}
