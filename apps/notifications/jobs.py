"""Celery jobs of the outbox. Thin: each calls one service."""

from __future__ import annotations

from typing import Any

from apps.notifications import services
from config.celery_app import app


@app.task(name="notifications.outbox_relay", ignore_result=True)
def outbox_relay_job() -> int:
    return services.outbox_relay()


@app.task(name="notifications.outbox_prune", ignore_result=True)
def outbox_prune_job() -> int:
    return services.outbox_prune()


@app.task(name="notifications.deliver", ignore_result=True, acks_late=True)
def notification_deliver_job(
    *, message_id: int, topic: str, payload: dict[str, Any], instance_id: int | None
) -> None:
    services.notification_deliver(
        message_id=message_id, topic=topic, payload=payload, instance_id=instance_id
    )


@app.task(name="notifications.for_people", ignore_result=True, acks_late=True)
def notifications_for_people_job(*, message_id: int, topic: str, payload: dict[str, Any]) -> int:
    return services.notifications_for_people(message_id=message_id, topic=topic, payload=payload)


@app.task(name="notifications.email", ignore_result=True, acks_late=True)
def notifications_email_job(*, notification_ids: list[int]) -> int:
    from apps.notifications.personal import notifications_email

    return notifications_email(notification_ids=notification_ids)
