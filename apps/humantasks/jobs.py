"""Celery jobs beat runs for the SLA timers. Thin: each calls one service."""

from __future__ import annotations

from apps.humantasks import timers
from config.celery_app import app


@app.task(name="humantasks.escalate_overdue", ignore_result=True)
def tasks_escalate_overdue_job() -> int:
    return timers.tasks_escalate_overdue()


@app.task(name="humantasks.remind_assignees", ignore_result=True)
def tasks_remind_assignees_job() -> int:
    return timers.tasks_remind_assignees()


@app.task(name="humantasks.release_stale_claims", ignore_result=True)
def claims_release_stale_job() -> int:
    return timers.claims_release_stale()
