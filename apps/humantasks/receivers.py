"""Queue grants decide which queues a person hears live: when one changes, the sockets of
whoever it names re-subscribe (after commit)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.humantasks.models import QueueGroupObjectPermission, QueueUserObjectPermission
from apps.notifications.events import role_group, user_group
from apps.notifications.services import live_control


@receiver([post_save, post_delete], sender=QueueUserObjectPermission)
@receiver([post_save, post_delete], sender=QueueGroupObjectPermission)
def live_follow_queue_grants(sender: Any, instance: Any, **kwargs: Any) -> None:
    group = (
        user_group(instance.user_id) if sender is QueueUserObjectPermission else role_group(instance.group_id)
    )
    transaction.on_commit(lambda: live_control(groups=[group], kind="access_changed"))
