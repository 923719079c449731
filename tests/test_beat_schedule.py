from django.conf import settings

from config.celery_app import app


def test_every_beat_entry_names_a_registered_job():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled - set(app.tasks) == set()
    assert "api.purge_idempotency_records" in scheduled
