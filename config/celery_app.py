"""The Celery app. Workers: `celery -A config.celery_app worker`; beat: `celery -A config.celery_app beat`.

Configuration comes from Django settings (the CELERY_* names, see config/settings.py).
Job modules are named `jobs.py` after what they run, so an app's `tasks` never means two
things; they stay thin and call services.
"""

from __future__ import annotations

import os

from celery import Celery

# The same default manage.py and the ASGI/WSGI entry points use; production passes the variable.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("approval_inbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
