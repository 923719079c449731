"""The embedded default: SQLite, no Redis, and the worker with beat that `manage.py start`
runs as its child (apps.automation.embedded), passing jobs through a folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from config.env import BASE_DIR, env

SCRIPT = """
import time
import django
django.setup()
from apps.automation.embedded import start_embedded_worker
from apps.humantasks.services import queues_ensure_standard
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start

worker = start_embedded_worker()
queues_ensure_standard(actor=None)
data = {"customer_name": "Ada", "customer_email": "ada@example.com", "national_id": "AB-1234",
        "employer": "Analytical Engines", "requested_limit": 10}
instance = instance_start(kind="account_activation", business_key="EMB-1", data=data, actor=None)
print("after commit:", WorkflowInstance.objects.get(pk=instance.pk).state, flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    state = WorkflowInstance.objects.get(pk=instance.pk).state
    if state != "checks_running":
        break
    time.sleep(0.2)
print("finally:", state, flush=True)
"""


def test_the_embedded_worker_runs_the_steps_without_redis(tmp_path: Path) -> None:
    embedded = {
        key: value
        for key, value in env.ENVIRON.items()
        if not key.startswith(("REDIS_", "CELERY_", "TEST_", "DATABASE_", "AUTOMATION_"))
    }
    embedded.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_DIR=str(tmp_path / "broker"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp_path / "beat-schedule"),
        PYTHONPATH=str(BASE_DIR),
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=embedded, check=True, timeout=120
    )
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=embedded,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    # The steps are not run by the process that committed: they wait for the worker.
    assert "after commit: checks_running" in run.stdout
    assert "finally: active" in run.stdout, run.stderr[-3000:]
