"""Celery jobs of the webhooks. Thin: each calls one service."""

from __future__ import annotations

from apps.webhooks.services import delivery, fan_out
from config.celery_app import app


@app.task(name="webhooks.deliver", ignore_result=True, acks_late=True)
def webhook_deliver_job(*, delivery_id: int) -> str:
    return delivery.delivery_attempt(delivery_id=delivery_id)


@app.task(name="webhooks.sweep", ignore_result=True)
def webhooks_sweep_job() -> int:
    return delivery.deliveries_sweep()


@app.task(name="webhooks.catch_up", ignore_result=True)
def webhooks_catch_up_job() -> int:
    return fan_out.events_catch_up()


@app.task(name="webhooks.purge_log", ignore_result=True)
def webhooks_purge_log_job() -> int:
    return delivery.deliveries_purge()
