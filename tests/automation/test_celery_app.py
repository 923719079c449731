"""The Celery app's configuration: every job beat schedules exists, with the delivery
guarantees the automated steps rely on."""

from __future__ import annotations

from django.conf import settings

from config.celery_app import app


def test_every_beat_entry_names_a_registered_job() -> None:
    app.loader.import_default_modules()  # what a worker or beat does at start: autodiscover jobs.py
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)
    assert {
        "notifications.outbox_relay",
        "notifications.outbox_prune",
        "humantasks.escalate_overdue",
        "humantasks.remind_assignees",
        "humantasks.release_stale_claims",
        "automation.recover_stalled",
    } <= scheduled


def test_jobs_are_acknowledged_late_one_at_a_time() -> None:
    step_job = app.tasks["automation.step_run"]
    assert step_job.acks_late and step_job.reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
