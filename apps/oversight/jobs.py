"""Celery jobs of the auditors' workspace. Thin: each calls one service."""

from __future__ import annotations

from apps.oversight import services
from config.celery_app import app


@app.task(name="oversight.chain_verification", ignore_result=True)
def chain_verification_job(*, verification_id: int) -> str:
    return services.chain_verification_run(verification_id=verification_id).status
