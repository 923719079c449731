"""Celery jobs beat runs for the API. Thin: each calls one service."""

from __future__ import annotations

from apps.api.services import idempotency_records_purge
from config.celery_app import app


@app.task(name="api.purge_idempotency_records", ignore_result=True)
def idempotency_records_purge_job() -> int:
    return idempotency_records_purge()
