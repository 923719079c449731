"""Celery jobs of automated steps. Thin: each calls one service."""

from __future__ import annotations

from apps.audit import context as audit_context
from apps.automation import services
from config.celery_app import app


@app.task(
    name="automation.step_run", bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def automated_step_job(self, *, step_run_id: int, attempt: int = 1) -> None:
    # Retries are not Celery's: a failed attempt schedules the next one through the outbox
    # (see docs/adr/0003-automated-steps-on-celery.md), so this job never raises to retry.
    with audit_context.bound(request_id=f"job:{self.request.id or ''}"[:64]):
        services.step_run_attempt(step_run_id=step_run_id, attempt=attempt)


@app.task(name="automation.recover_stalled", ignore_result=True)
def step_runs_recover_stalled_job() -> int:
    return services.step_runs_recover_stalled()
